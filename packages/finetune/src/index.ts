// Public API of @richhf/finetune (filled in by the modules as they land).
export {};
