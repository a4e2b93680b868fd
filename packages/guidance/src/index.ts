// Public API of @richhf/guidance (filled in by the modules as they land).
export {};
