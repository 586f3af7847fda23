#!/usr/bin/env node
import '../dist/trainer/src/main.js';
