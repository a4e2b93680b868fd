import { Tokenizer } from '../src/tokenizer';
const t = Tokenizer.fromFile('test/fixtures/parity/rahf/t5/tokenizer.json');
for (const p of ['a photo of a red cat sitting on a blue sofa next to two green apples', 'a photo of a red cat sitting on a blue sofa next to two green apples and a small wooden table in a sunny room']) console.log(t.encode(p).length, t.vocabSize);
