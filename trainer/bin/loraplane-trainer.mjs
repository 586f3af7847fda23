#!/usr/bin/env node
// The trainer pod's entrypoint (the Job's command): configuration from the operator's environment.
import { trainerPod } from '../dist/cli.js';

process.exit(await trainerPod());
