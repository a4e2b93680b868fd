#!/bin/bash
# usage: .scratch/run.sh file.ts args
f=$1; shift
npx esbuild "$f" --bundle --platform=node --packages=external --outfile=.scratch/out.js --log-level=warning && node .scratch/out.js "$@"
