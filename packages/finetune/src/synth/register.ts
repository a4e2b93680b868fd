import { registerGenerator } from '../generators/open';
import { SynthGenerator } from './generator';

// `--generator synth` (the bundled scene generator) or `synth:DIR` (a checkpoint folder).
registerGenerator('synth', 'synth', (arg, o) => SynthGenerator.open(arg, o));
