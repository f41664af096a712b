import { createRequire as __WEBPACK_EXTERNAL_createRequire } from "module";
import * as __WEBPACK_EXTERNAL_MODULE__http_client_unbundled_js_b6b721c4__ from "./http-client-unbundled.js";
/******/ var __webpack_modules__ = ({

/***/ 613:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("assert");

/***/ }),

/***/ 181:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("buffer");

/***/ }),

/***/ 434:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("events");

/***/ }),

/***/ 611:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("http");

/***/ }),

/***/ 692:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("https");

/***/ }),

/***/ 278:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("net");

/***/ }),

/***/ 573:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:buffer");

/***/ }),

/***/ 598:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:crypto");

/***/ }),

/***/ 24:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:fs");

/***/ }),

/***/ 67:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:http");

/***/ }),

/***/ 708:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:https");

/***/ }),

/***/ 995:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:module");

/***/ }),

/***/ 161:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:os");

/***/ }),

/***/ 760:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:path");

/***/ }),

/***/ 327:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:process");

/***/ }),

/***/ 75:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:stream");

/***/ }),

/***/ 136:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:url");

/***/ }),

/***/ 975:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:util");

/***/ }),

/***/ 522:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:zlib");

/***/ }),

/***/ 857:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("os");

/***/ }),

/***/ 203:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("stream");

/***/ }),

/***/ 756:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("tls");

/***/ }),

/***/ 18:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("tty");

/***/ }),

/***/ 16:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("url");

/***/ }),

/***/ 23:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("util");

/***/ })

/******/ });
/************************************************************************/
/******/ // The module cache
/******/ var __webpack_module_cache__ = {};
/******/ 
/******/ // The require function
/******/ function __nccwpck_require__(moduleId) {
/******/ 	// Check if module is in cache
/******/ 	var cachedModule = __webpack_module_cache__[moduleId];
/******/ 	if (cachedModule !== undefined) {
/******/ 		return cachedModule.exports;
/******/ 	}
/******/ 	// Create a new module (and put it into the cache)
/******/ 	var module = __webpack_module_cache__[moduleId] = {
/******/ 		// no module.id needed
/******/ 		// no module.loaded needed
/******/ 		exports: {}
/******/ 	};
/******/ 
/******/ 	// Execute the module function
/******/ 	var threw = true;
/******/ 	try {
/******/ 		__webpack_modules__[moduleId].call(module.exports, module, module.exports, __nccwpck_require__);
/******/ 		threw = false;
/******/ 	} finally {
/******/ 		if(threw) delete __webpack_module_cache__[moduleId];
/******/ 	}
/******/ 
/******/ 	// Return the exports of the module
/******/ 	return module.exports;
/******/ }
/******/ 
/******/ // expose the modules object (__webpack_modules__)
/******/ __nccwpck_require__.m = __webpack_modules__;
/******/ 
/************************************************************************/
/******/ /* webpack/runtime/asset-relocator-loader */
/******/ if (typeof __nccwpck_require__ !== 'undefined') __nccwpck_require__.ab = decodeURIComponent(new URL('.', import.meta.url).pathname).slice(import.meta.url.match(/^file:\/\/\/\w:/) ? 1 : 0, -1) + "/";
/******/ 
/******/ /* webpack/runtime/compat get default export */
/******/ (() => {
/******/ 	// getDefaultExport function for compatibility with non-harmony modules
/******/ 	__nccwpck_require__.n = (module) => {
/******/ 		var getter = module && module.__esModule ?
/******/ 			() => (module['default']) :
/******/ 			() => (module);
/******/ 		__nccwpck_require__.d(getter, { a: getter });
/******/ 		return getter;
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/define property getters */
/******/ (() => {
/******/ 	// define getter functions for harmony exports
/******/ 	__nccwpck_require__.d = (exports, definition) => {
/******/ 		for(var key in definition) {
/******/ 			if(__nccwpck_require__.o(definition, key) && !__nccwpck_require__.o(exports, key)) {
/******/ 				Object.defineProperty(exports, key, { enumerable: true, get: definition[key] });
/******/ 			}
/******/ 		}
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/ensure chunk */
/******/ (() => {
/******/ 	__nccwpck_require__.f = {};
/******/ 	// This file contains only the entry chunk.
/******/ 	// The chunk loading function for additional chunks
/******/ 	__nccwpck_require__.e = (chunkId) => {
/******/ 		return Promise.all(Object.keys(__nccwpck_require__.f).reduce((promises, key) => {
/******/ 			__nccwpck_require__.f[key](chunkId, promises);
/******/ 			return promises;
/******/ 		}, []));
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/get javascript chunk filename */
/******/ (() => {
/******/ 	// This function allow to reference async chunks
/******/ 	__nccwpck_require__.u = (chunkId) => {
/******/ 		// return url for filenames based on template
/******/ 		return "" + chunkId + ".index.js";
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/hasOwnProperty shorthand */
/******/ (() => {
/******/ 	__nccwpck_require__.o = (obj, prop) => (Object.prototype.hasOwnProperty.call(obj, prop))
/******/ })();
/******/ 
/******/ /* webpack/runtime/make namespace object */
/******/ (() => {
/******/ 	// define __esModule on exports
/******/ 	__nccwpck_require__.r = (exports) => {
/******/ 		if(typeof Symbol !== 'undefined' && Symbol.toStringTag) {
/******/ 			Object.defineProperty(exports, Symbol.toStringTag, { value: 'Module' });
/******/ 		}
/******/ 		Object.defineProperty(exports, '__esModule', { value: true });
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/import chunk loading */
/******/ (() => {
/******/ 	// no baseURI
/******/ 	
/******/ 	// object to store loaded and loading chunks
/******/ 	// undefined = chunk not loaded, null = chunk preloaded/prefetched
/******/ 	// [resolve, Promise] = chunk loading, 0 = chunk loaded
/******/ 	var installedChunks = {
/******/ 		792: 0
/******/ 	};
/******/ 	
/******/ 	var installChunk = (data) => {
/******/ 		var {ids, modules, runtime} = data;
/******/ 		// add "modules" to the modules object,
/******/ 		// then flag all "ids" as loaded and fire callback
/******/ 		var moduleId, chunkId, i = 0;
/******/ 		for(moduleId in modules) {
/******/ 			if(__nccwpck_require__.o(modules, moduleId)) {
/******/ 				__nccwpck_require__.m[moduleId] = modules[moduleId];
/******/ 			}
/******/ 		}
/******/ 		if(runtime) runtime(__nccwpck_require__);
/******/ 		for(;i < ids.length; i++) {
/******/ 			chunkId = ids[i];
/******/ 			if(__nccwpck_require__.o(installedChunks, chunkId) && installedChunks[chunkId]) {
/******/ 				installedChunks[chunkId][0]();
/******/ 			}
/******/ 			installedChunks[ids[i]] = 0;
/******/ 		}
/******/ 	
/******/ 	}
/******/ 	
/******/ 	__nccwpck_require__.f.j = (chunkId, promises) => {
/******/ 			// import() chunk loading for javascript
/******/ 			var installedChunkData = __nccwpck_require__.o(installedChunks, chunkId) ? installedChunks[chunkId] : undefined;
/******/ 			if(installedChunkData !== 0) { // 0 means "already installed".
/******/ 	
/******/ 				// a Promise means "currently loading".
/******/ 				if(installedChunkData) {
/******/ 					promises.push(installedChunkData[1]);
/******/ 				} else {
/******/ 					if(true) { // all chunks have JS
/******/ 						// setup Promise in chunk cache
/******/ 						var promise = import("./" + __nccwpck_require__.u(chunkId)).then(installChunk, (e) => {
/******/ 							if(installedChunks[chunkId] !== 0) installedChunks[chunkId] = undefined;
/******/ 							throw e;
/******/ 						});
/******/ 						var promise = Promise.race([promise, new Promise((resolve) => (installedChunkData = installedChunks[chunkId] = [resolve]))])
/******/ 						promises.push(installedChunkData[1] = promise);
/******/ 					}
/******/ 				}
/******/ 			}
/******/ 	};
/******/ 	
/******/ 	// no prefetching
/******/ 	
/******/ 	// no preloaded
/******/ 	
/******/ 	// no external install chunk
/******/ 	
/******/ 	// no on chunks loaded
/******/ })();
/******/ 
/************************************************************************/
var __webpack_exports__ = {};

// EXPORTS
__nccwpck_require__.d(__webpack_exports__, {
  e: () => (/* binding */ runbox_runStep)
});

// EXTERNAL MODULE: external "os"
var external_os_ = __nccwpck_require__(857);
;// CONCATENATED MODULE: ./node_modules/@actions/core/lib/utils.js
// We use any as a valid input type
/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * Sanitizes an input into a string so it can be passed into issueCommand safely
 * @param input input to sanitize into a string
 */
function toCommandValue(input) {
    if (input === null || input === undefined) {
        return '';
    }
    else if (typeof input === 'string' || input instanceof String) {
        return input;
    }
    return JSON.stringify(input);
}
/**
 *
 * @param annotationProperties
 * @returns The command properties to send with the actual annotation command
 * See IssueCommandProperties: https://github.com/actions/runner/blob/main/src/Runner.Worker/ActionCommandManager.cs#L646
 */
function utils_toCommandProperties(annotationProperties) {
    if (!Object.keys(annotationProperties).length) {
        return {};
    }
    return {
        title: annotationProperties.title,
        file: annotationProperties.file,
        line: annotationProperties.startLine,
        endLine: annotationProperties.endLine,
        col: annotationProperties.startColumn,
        endColumn: annotationProperties.endColumn
    };
}
//# sourceMappingURL=utils.js.map
;// CONCATENATED MODULE: ./node_modules/@actions/core/lib/command.js


/**
 * Issues a command to the GitHub Actions runner
 *
 * @param command - The command name to issue
 * @param properties - Additional properties for the command (key-value pairs)
 * @param message - The message to include with the command
 * @remarks
 * This function outputs a specially formatted string to stdout that the Actions
 * runner interprets as a command. These commands can control workflow behavior,
 * set outputs, create annotations, mask values, and more.
 *
 * Command Format:
 *   ::name key=value,key=value::message
 *
 * @example
 * ```typescript
 * // Issue a warning annotation
 * issueCommand('warning', {}, 'This is a warning message');
 * // Output: ::warning::This is a warning message
 *
 * // Set an environment variable
 * issueCommand('set-env', { name: 'MY_VAR' }, 'some value');
 * // Output: ::set-env name=MY_VAR::some value
 *
 * // Add a secret mask
 * issueCommand('add-mask', {}, 'secretValue123');
 * // Output: ::add-mask::secretValue123
 * ```
 *
 * @internal
 * This is an internal utility function that powers the public API functions
 * such as setSecret, warning, error, and exportVariable.
 */
function command_issueCommand(command, properties, message) {
    const cmd = new Command(command, properties, message);
    process.stdout.write(cmd.toString() + external_os_.EOL);
}
function command_issue(name, message = '') {
    command_issueCommand(name, {}, message);
}
const CMD_STRING = '::';
class Command {
    constructor(command, properties, message) {
        if (!command) {
            command = 'missing.command';
        }
        this.command = command;
        this.properties = properties;
        this.message = message;
    }
    toString() {
        let cmdStr = CMD_STRING + this.command;
        if (this.properties && Object.keys(this.properties).length > 0) {
            cmdStr += ' ';
            let first = true;
            for (const key in this.properties) {
                if (this.properties.hasOwnProperty(key)) {
                    const val = this.properties[key];
                    if (val) {
                        if (first) {
                            first = false;
                        }
                        else {
                            cmdStr += ',';
                        }
                        cmdStr += `${key}=${escapeProperty(val)}`;
                    }
                }
            }
        }
        cmdStr += `${CMD_STRING}${escapeData(this.message)}`;
        return cmdStr;
    }
}
function escapeData(s) {
    return toCommandValue(s)
        .replace(/%/g, '%25')
        .replace(/\r/g, '%0D')
        .replace(/\n/g, '%0A');
}
function escapeProperty(s) {
    return toCommandValue(s)
        .replace(/%/g, '%25')
        .replace(/\r/g, '%0D')
        .replace(/\n/g, '%0A')
        .replace(/:/g, '%3A')
        .replace(/,/g, '%2C');
}
//# sourceMappingURL=command.js.map
;// CONCATENATED MODULE: external "crypto"
const external_crypto_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("crypto");
;// CONCATENATED MODULE: external "fs"
const external_fs_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("fs");
;// CONCATENATED MODULE: ./node_modules/@actions/core/lib/file-command.js
// For internal use, subject to change.
// We use any as a valid input type
/* eslint-disable @typescript-eslint/no-explicit-any */




function file_command_issueFileCommand(command, message) {
    const filePath = process.env[`GITHUB_${command}`];
    if (!filePath) {
        throw new Error(`Unable to find environment variable for file command ${command}`);
    }
    if (!external_fs_namespaceObject.existsSync(filePath)) {
        throw new Error(`Missing file at path: ${filePath}`);
    }
    external_fs_namespaceObject.appendFileSync(filePath, `${toCommandValue(message)}${external_os_.EOL}`, {
        encoding: 'utf8'
    });
}
function prepareKeyValueMessage(key, value) {
    const delimiter = `ghadelimiter_${external_crypto_namespaceObject.randomUUID()}`;
    const convertedValue = toCommandValue(value);
    // These should realistically never happen, but just in case someone finds a
    // way to exploit uuid generation let's not allow keys or values that contain
    // the delimiter.
    if (key.includes(delimiter)) {
        throw new Error(`Unexpected input: name should not contain the delimiter "${delimiter}"`);
    }
    if (convertedValue.includes(delimiter)) {
        throw new Error(`Unexpected input: value should not contain the delimiter "${delimiter}"`);
    }
    return `${key}<<${delimiter}${external_os_.EOL}${convertedValue}${external_os_.EOL}${delimiter}`;
}
//# sourceMappingURL=file-command.js.map
;// CONCATENATED MODULE: external "path"
const external_path_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("path");
;// CONCATENATED MODULE: external "./http-client-unbundled.js"
var x = (y) => {
	var x = {}; __nccwpck_require__.d(x, y); return x
} 
var y = (x) => (() => (x))
const external_http_client_unbundled_js_namespaceObject = x({  });
;// CONCATENATED MODULE: ./node_modules/@actions/core/lib/oidc-utils.js
var __awaiter = (undefined && undefined.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};



class oidc_utils_OidcClient {
    static createHttpClient(allowRetry = true, maxRetry = 10) {
        const requestOptions = {
            allowRetries: allowRetry,
            maxRetries: maxRetry
        };
        return new HttpClient('actions/oidc-client', [new BearerCredentialHandler(oidc_utils_OidcClient.getRequestToken())], requestOptions);
    }
    static getRequestToken() {
        const token = process.env['ACTIONS_ID_TOKEN_REQUEST_TOKEN'];
        if (!token) {
            throw new Error('Unable to get ACTIONS_ID_TOKEN_REQUEST_TOKEN env variable');
        }
        return token;
    }
    static getIDTokenUrl() {
        const runtimeUrl = process.env['ACTIONS_ID_TOKEN_REQUEST_URL'];
        if (!runtimeUrl) {
            throw new Error('Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable');
        }
        return runtimeUrl;
    }
    static getCall(id_token_url) {
        return __awaiter(this, void 0, void 0, function* () {
            var _a;
            const httpclient = oidc_utils_OidcClient.createHttpClient();
            const res = yield httpclient
                .getJson(id_token_url)
                .catch(error => {
                throw new Error(`Failed to get ID Token. \n 
        Error Code : ${error.statusCode}\n 
        Error Message: ${error.message}`);
            });
            const id_token = (_a = res.result) === null || _a === void 0 ? void 0 : _a.value;
            if (!id_token) {
                throw new Error('Response json body do not have ID Token field');
            }
            return id_token;
        });
    }
    static getIDToken(audience) {
        return __awaiter(this, void 0, void 0, function* () {
            try {
                // New ID Token is requested from action service
                let id_token_url = oidc_utils_OidcClient.getIDTokenUrl();
                if (audience) {
                    const encodedAudience = encodeURIComponent(audience);
                    id_token_url = `${id_token_url}&audience=${encodedAudience}`;
                }
                debug(`ID token url is ${id_token_url}`);
                const id_token = yield oidc_utils_OidcClient.getCall(id_token_url);
                setSecret(id_token);
                return id_token;
            }
            catch (error) {
                throw new Error(`Error message: ${error.message}`);
            }
        });
    }
}
//# sourceMappingURL=oidc-utils.js.map
;// CONCATENATED MODULE: ./node_modules/@actions/core/lib/summary.js
var summary_awaiter = (undefined && undefined.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};


const { access, appendFile, writeFile } = external_fs_namespaceObject.promises;
const SUMMARY_ENV_VAR = 'GITHUB_STEP_SUMMARY';
const SUMMARY_DOCS_URL = 'https://docs.github.com/actions/using-workflows/workflow-commands-for-github-actions#adding-a-job-summary';
class Summary {
    constructor() {
        this._buffer = '';
    }
    /**
     * Finds the summary file path from the environment, rejects if env var is not found or file does not exist
     * Also checks r/w permissions.
     *
     * @returns step summary file path
     */
    filePath() {
        return summary_awaiter(this, void 0, void 0, function* () {
            if (this._filePath) {
                return this._filePath;
            }
            const pathFromEnv = process.env[SUMMARY_ENV_VAR];
            if (!pathFromEnv) {
                throw new Error(`Unable to find environment variable for $${SUMMARY_ENV_VAR}. Check if your runtime environment supports job summaries.`);
            }
            try {
                yield access(pathFromEnv, external_fs_namespaceObject.constants.R_OK | external_fs_namespaceObject.constants.W_OK);
            }
            catch (_a) {
                throw new Error(`Unable to access summary file: '${pathFromEnv}'. Check if the file has correct read/write permissions.`);
            }
            this._filePath = pathFromEnv;
            return this._filePath;
        });
    }
    /**
     * Wraps content in an HTML tag, adding any HTML attributes
     *
     * @param {string} tag HTML tag to wrap
     * @param {string | null} content content within the tag
     * @param {[attribute: string]: string} attrs key-value list of HTML attributes to add
     *
     * @returns {string} content wrapped in HTML element
     */
    wrap(tag, content, attrs = {}) {
        const htmlAttrs = Object.entries(attrs)
            .map(([key, value]) => ` ${key}="${value}"`)
            .join('');
        if (!content) {
            return `<${tag}${htmlAttrs}>`;
        }
        return `<${tag}${htmlAttrs}>${content}</${tag}>`;
    }
    /**
     * Writes text in the buffer to the summary buffer file and empties buffer. Will append by default.
     *
     * @param {SummaryWriteOptions} [options] (optional) options for write operation
     *
     * @returns {Promise<Summary>} summary instance
     */
    write(options) {
        return summary_awaiter(this, void 0, void 0, function* () {
            const overwrite = !!(options === null || options === void 0 ? void 0 : options.overwrite);
            const filePath = yield this.filePath();
            const writeFunc = overwrite ? writeFile : appendFile;
            yield writeFunc(filePath, this._buffer, { encoding: 'utf8' });
            return this.emptyBuffer();
        });
    }
    /**
     * Clears the summary buffer and wipes the summary file
     *
     * @returns {Summary} summary instance
     */
    clear() {
        return summary_awaiter(this, void 0, void 0, function* () {
            return this.emptyBuffer().write({ overwrite: true });
        });
    }
    /**
     * Returns the current summary buffer as a string
     *
     * @returns {string} string of summary buffer
     */
    stringify() {
        return this._buffer;
    }
    /**
     * If the summary buffer is empty
     *
     * @returns {boolen} true if the buffer is empty
     */
    isEmptyBuffer() {
        return this._buffer.length === 0;
    }
    /**
     * Resets the summary buffer without writing to summary file
     *
     * @returns {Summary} summary instance
     */
    emptyBuffer() {
        this._buffer = '';
        return this;
    }
    /**
     * Adds raw text to the summary buffer
     *
     * @param {string} text content to add
     * @param {boolean} [addEOL=false] (optional) append an EOL to the raw text (default: false)
     *
     * @returns {Summary} summary instance
     */
    addRaw(text, addEOL = false) {
        this._buffer += text;
        return addEOL ? this.addEOL() : this;
    }
    /**
     * Adds the operating system-specific end-of-line marker to the buffer
     *
     * @returns {Summary} summary instance
     */
    addEOL() {
        return this.addRaw(external_os_.EOL);
    }
    /**
     * Adds an HTML codeblock to the summary buffer
     *
     * @param {string} code content to render within fenced code block
     * @param {string} lang (optional) language to syntax highlight code
     *
     * @returns {Summary} summary instance
     */
    addCodeBlock(code, lang) {
        const attrs = Object.assign({}, (lang && { lang }));
        const element = this.wrap('pre', this.wrap('code', code), attrs);
        return this.addRaw(element).addEOL();
    }
    /**
     * Adds an HTML list to the summary buffer
     *
     * @param {string[]} items list of items to render
     * @param {boolean} [ordered=false] (optional) if the rendered list should be ordered or not (default: false)
     *
     * @returns {Summary} summary instance
     */
    addList(items, ordered = false) {
        const tag = ordered ? 'ol' : 'ul';
        const listItems = items.map(item => this.wrap('li', item)).join('');
        const element = this.wrap(tag, listItems);
        return this.addRaw(element).addEOL();
    }
    /**
     * Adds an HTML table to the summary buffer
     *
     * @param {SummaryTableCell[]} rows table rows
     *
     * @returns {Summary} summary instance
     */
    addTable(rows) {
        const tableBody = rows
            .map(row => {
            const cells = row
                .map(cell => {
                if (typeof cell === 'string') {
                    return this.wrap('td', cell);
                }
                const { header, data, colspan, rowspan } = cell;
                const tag = header ? 'th' : 'td';
                const attrs = Object.assign(Object.assign({}, (colspan && { colspan })), (rowspan && { rowspan }));
                return this.wrap(tag, data, attrs);
            })
                .join('');
            return this.wrap('tr', cells);
        })
            .join('');
        const element = this.wrap('table', tableBody);
        return this.addRaw(element).addEOL();
    }
    /**
     * Adds a collapsable HTML details element to the summary buffer
     *
     * @param {string} label text for the closed state
     * @param {string} content collapsable content
     *
     * @returns {Summary} summary instance
     */
    addDetails(label, content) {
        const element = this.wrap('details', this.wrap('summary', label) + content);
        return this.addRaw(element).addEOL();
    }
    /**
     * Adds an HTML image tag to the summary buffer
     *
     * @param {string} src path to the image you to embed
     * @param {string} alt text description of the image
     * @param {SummaryImageOptions} options (optional) addition image attributes
     *
     * @returns {Summary} summary instance
     */
    addImage(src, alt, options) {
        const { width, height } = options || {};
        const attrs = Object.assign(Object.assign({}, (width && { width })), (height && { height }));
        const element = this.wrap('img', null, Object.assign({ src, alt }, attrs));
        return this.addRaw(element).addEOL();
    }
    /**
     * Adds an HTML section heading element
     *
     * @param {string} text heading text
     * @param {number | string} [level=1] (optional) the heading level, default: 1
     *
     * @returns {Summary} summary instance
     */
    addHeading(text, level) {
        const tag = `h${level}`;
        const allowedTag = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].includes(tag)
            ? tag
            : 'h1';
        const element = this.wrap(allowedTag, text);
        return this.addRaw(element).addEOL();
    }
    /**
     * Adds an HTML thematic break (<hr>) to the summary buffer
     *
     * @returns {Summary} summary instance
     */
    addSeparator() {
        const element = this.wrap('hr', null);
        return this.addRaw(element).addEOL();
    }
    /**
     * Adds an HTML line break (<br>) to the summary buffer
     *
     * @returns {Summary} summary instance
     */
    addBreak() {
        const element = this.wrap('br', null);
        return this.addRaw(element).addEOL();
    }
    /**
     * Adds an HTML blockquote to the summary buffer
     *
     * @param {string} text quote text
     * @param {string} cite (optional) citation url
     *
     * @returns {Summary} summary instance
     */
    addQuote(text, cite) {
        const attrs = Object.assign({}, (cite && { cite }));
        const element = this.wrap('blockquote', text, attrs);
        return this.addRaw(element).addEOL();
    }
    /**
     * Adds an HTML anchor tag to the summary buffer
     *
     * @param {string} text link text/content
     * @param {string} href hyperlink
     *
     * @returns {Summary} summary instance
     */
    addLink(text, href) {
        const element = this.wrap('a', text, { href });
        return this.addRaw(element).addEOL();
    }
}
const _summary = new Summary();
/**
 * @deprecated use `core.summary`
 */
const markdownSummary = (/* unused pure expression or super */ null && (_summary));
const summary = _summary;
//# sourceMappingURL=summary.js.map
;// CONCATENATED MODULE: ./node_modules/@actions/core/lib/path-utils.js

/**
 * toPosixPath converts the given path to the posix form. On Windows, \\ will be
 * replaced with /.
 *
 * @param pth. Path to transform.
 * @return string Posix path.
 */
function toPosixPath(pth) {
    return pth.replace(/[\\]/g, '/');
}
/**
 * toWin32Path converts the given path to the win32 form. On Linux, / will be
 * replaced with \\.
 *
 * @param pth. Path to transform.
 * @return string Win32 path.
 */
function toWin32Path(pth) {
    return pth.replace(/[/]/g, '\\');
}
/**
 * toPlatformPath converts the given path to a platform-specific path. It does
 * this by replacing instances of / and \ with the platform-specific path
 * separator.
 *
 * @param pth The path to platformize.
 * @return string The platform-specific path.
 */
function toPlatformPath(pth) {
    return pth.replace(/[/\\]/g, path.sep);
}
//# sourceMappingURL=path-utils.js.map
;// CONCATENATED MODULE: external "string_decoder"
const external_string_decoder_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("string_decoder");
// EXTERNAL MODULE: external "events"
var external_events_ = __nccwpck_require__(434);
;// CONCATENATED MODULE: external "child_process"
const external_child_process_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("child_process");
// EXTERNAL MODULE: external "assert"
var external_assert_ = __nccwpck_require__(613);
;// CONCATENATED MODULE: ./node_modules/@actions/io/lib/io-util.js
var io_util_awaiter = (undefined && undefined.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};


const { chmod, copyFile, lstat, mkdir, open: io_util_open, readdir, rename, rm, rmdir, stat, symlink, unlink } = external_fs_namespaceObject.promises;
// export const {open} = 'fs'
const IS_WINDOWS = process.platform === 'win32';
/**
 * Custom implementation of readlink to ensure Windows junctions
 * maintain trailing backslash for backward compatibility with Node.js < 24
 *
 * In Node.js 20, Windows junctions (directory symlinks) always returned paths
 * with trailing backslashes. Node.js 24 removed this behavior, which breaks
 * code that relied on this format for path operations.
 *
 * This implementation restores the Node 20 behavior by adding a trailing
 * backslash to all junction results on Windows.
 */
function readlink(fsPath) {
    return io_util_awaiter(this, void 0, void 0, function* () {
        const result = yield fs.promises.readlink(fsPath);
        // On Windows, restore Node 20 behavior: add trailing backslash to all results
        // since junctions on Windows are always directory links
        if (IS_WINDOWS && !result.endsWith('\\')) {
            return `${result}\\`;
        }
        return result;
    });
}
// See https://github.com/nodejs/node/blob/d0153aee367422d0858105abec186da4dff0a0c5/deps/uv/include/uv/win.h#L691
const UV_FS_O_EXLOCK = 0x10000000;
const READONLY = external_fs_namespaceObject.constants.O_RDONLY;
function exists(fsPath) {
    return io_util_awaiter(this, void 0, void 0, function* () {
        try {
            yield stat(fsPath);
        }
        catch (err) {
            if (err.code === 'ENOENT') {
                return false;
            }
            throw err;
        }
        return true;
    });
}
function isDirectory(fsPath_1) {
    return io_util_awaiter(this, arguments, void 0, function* (fsPath, useStat = false) {
        const stats = useStat ? yield stat(fsPath) : yield lstat(fsPath);
        return stats.isDirectory();
    });
}
/**
 * On OSX/Linux, true if path starts with '/'. On Windows, true for paths like:
 * \, \hello, \\hello\share, C:, and C:\hello (and corresponding alternate separator cases).
 */
function isRooted(p) {
    p = normalizeSeparators(p);
    if (!p) {
        throw new Error('isRooted() parameter "p" cannot be empty');
    }
    if (IS_WINDOWS) {
        return (p.startsWith('\\') || /^[A-Z]:/i.test(p) // e.g. \ or \hello or \\hello
        ); // e.g. C: or C:\hello
    }
    return p.startsWith('/');
}
/**
 * Best effort attempt to determine whether a file exists and is executable.
 * @param filePath    file path to check
 * @param extensions  additional file extensions to try
 * @return if file exists and is executable, returns the file path. otherwise empty string.
 */
function tryGetExecutablePath(filePath, extensions) {
    return io_util_awaiter(this, void 0, void 0, function* () {
        let stats = undefined;
        try {
            // test file exists
            stats = yield stat(filePath);
        }
        catch (err) {
            if (err.code !== 'ENOENT') {
                // eslint-disable-next-line no-console
                console.log(`Unexpected error attempting to determine if executable file exists '${filePath}': ${err}`);
            }
        }
        if (stats && stats.isFile()) {
            if (IS_WINDOWS) {
                // on Windows, test for valid extension
                const upperExt = external_path_namespaceObject.extname(filePath).toUpperCase();
                if (extensions.some(validExt => validExt.toUpperCase() === upperExt)) {
                    return filePath;
                }
            }
            else {
                if (isUnixExecutable(stats)) {
                    return filePath;
                }
            }
        }
        // try each extension
        const originalFilePath = filePath;
        for (const extension of extensions) {
            filePath = originalFilePath + extension;
            stats = undefined;
            try {
                stats = yield stat(filePath);
            }
            catch (err) {
                if (err.code !== 'ENOENT') {
                    // eslint-disable-next-line no-console
                    console.log(`Unexpected error attempting to determine if executable file exists '${filePath}': ${err}`);
                }
            }
            if (stats && stats.isFile()) {
                if (IS_WINDOWS) {
                    // preserve the case of the actual file (since an extension was appended)
                    try {
                        const directory = external_path_namespaceObject.dirname(filePath);
                        const upperName = external_path_namespaceObject.basename(filePath).toUpperCase();
                        for (const actualName of yield readdir(directory)) {
                            if (upperName === actualName.toUpperCase()) {
                                filePath = external_path_namespaceObject.join(directory, actualName);
                                break;
                            }
                        }
                    }
                    catch (err) {
                        // eslint-disable-next-line no-console
                        console.log(`Unexpected error attempting to determine the actual case of the file '${filePath}': ${err}`);
                    }
                    return filePath;
                }
                else {
                    if (isUnixExecutable(stats)) {
                        return filePath;
                    }
                }
            }
        }
        return '';
    });
}
function normalizeSeparators(p) {
    p = p || '';
    if (IS_WINDOWS) {
        // convert slashes on Windows
        p = p.replace(/\//g, '\\');
        // remove redundant slashes
        return p.replace(/\\\\+/g, '\\');
    }
    // remove redundant slashes
    return p.replace(/\/\/+/g, '/');
}
// on Mac/Linux, test the execute bit
//     R   W  X  R  W X R W X
//   256 128 64 32 16 8 4 2 1
function isUnixExecutable(stats) {
    return ((stats.mode & 1) > 0 ||
        ((stats.mode & 8) > 0 &&
            process.getgid !== undefined &&
            stats.gid === process.getgid()) ||
        ((stats.mode & 64) > 0 &&
            process.getuid !== undefined &&
            stats.uid === process.getuid()));
}
// Get the path of cmd.exe in windows
function getCmdPath() {
    var _a;
    return (_a = process.env['COMSPEC']) !== null && _a !== void 0 ? _a : `cmd.exe`;
}
//# sourceMappingURL=io-util.js.map
;// CONCATENATED MODULE: ./node_modules/@actions/io/lib/io.js
var io_awaiter = (undefined && undefined.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};



/**
 * Copies a file or folder.
 * Based off of shelljs - https://github.com/shelljs/shelljs/blob/9237f66c52e5daa40458f94f9565e18e8132f5a6/src/cp.js
 *
 * @param     source    source path
 * @param     dest      destination path
 * @param     options   optional. See CopyOptions.
 */
function cp(source_1, dest_1) {
    return io_awaiter(this, arguments, void 0, function* (source, dest, options = {}) {
        const { force, recursive, copySourceDirectory } = readCopyOptions(options);
        const destStat = (yield ioUtil.exists(dest)) ? yield ioUtil.stat(dest) : null;
        // Dest is an existing file, but not forcing
        if (destStat && destStat.isFile() && !force) {
            return;
        }
        // If dest is an existing directory, should copy inside.
        const newDest = destStat && destStat.isDirectory() && copySourceDirectory
            ? path.join(dest, path.basename(source))
            : dest;
        if (!(yield ioUtil.exists(source))) {
            throw new Error(`no such file or directory: ${source}`);
        }
        const sourceStat = yield ioUtil.stat(source);
        if (sourceStat.isDirectory()) {
            if (!recursive) {
                throw new Error(`Failed to copy. ${source} is a directory, but tried to copy without recursive flag.`);
            }
            else {
                yield cpDirRecursive(source, newDest, 0, force);
            }
        }
        else {
            if (path.relative(source, newDest) === '') {
                // a file cannot be copied to itself
                throw new Error(`'${newDest}' and '${source}' are the same file`);
            }
            yield io_copyFile(source, newDest, force);
        }
    });
}
/**
 * Moves a path.
 *
 * @param     source    source path
 * @param     dest      destination path
 * @param     options   optional. See MoveOptions.
 */
function mv(source_1, dest_1) {
    return io_awaiter(this, arguments, void 0, function* (source, dest, options = {}) {
        if (yield ioUtil.exists(dest)) {
            let destExists = true;
            if (yield ioUtil.isDirectory(dest)) {
                // If dest is directory copy src into dest
                dest = path.join(dest, path.basename(source));
                destExists = yield ioUtil.exists(dest);
            }
            if (destExists) {
                if (options.force == null || options.force) {
                    yield rmRF(dest);
                }
                else {
                    throw new Error('Destination already exists');
                }
            }
        }
        yield mkdirP(path.dirname(dest));
        yield ioUtil.rename(source, dest);
    });
}
/**
 * Remove a path recursively with force
 *
 * @param inputPath path to remove
 */
function rmRF(inputPath) {
    return io_awaiter(this, void 0, void 0, function* () {
        if (ioUtil.IS_WINDOWS) {
            // Check for invalid characters
            // https://docs.microsoft.com/en-us/windows/win32/fileio/naming-a-file
            if (/[*"<>|]/.test(inputPath)) {
                throw new Error('File path must not contain `*`, `"`, `<`, `>` or `|` on Windows');
            }
        }
        try {
            // note if path does not exist, error is silent
            yield ioUtil.rm(inputPath, {
                force: true,
                maxRetries: 3,
                recursive: true,
                retryDelay: 300
            });
        }
        catch (err) {
            throw new Error(`File was unable to be removed ${err}`);
        }
    });
}
/**
 * Make a directory.  Creates the full path with folders in between
 * Will throw if it fails
 *
 * @param   fsPath        path to create
 * @returns Promise<void>
 */
function mkdirP(fsPath) {
    return io_awaiter(this, void 0, void 0, function* () {
        ok(fsPath, 'a path argument must be provided');
        yield ioUtil.mkdir(fsPath, { recursive: true });
    });
}
/**
 * Returns path of a tool had the tool actually been invoked.  Resolves via paths.
 * If you check and the tool does not exist, it will throw.
 *
 * @param     tool              name of the tool
 * @param     check             whether to check if tool exists
 * @returns   Promise<string>   path to tool
 */
function which(tool, check) {
    return io_awaiter(this, void 0, void 0, function* () {
        if (!tool) {
            throw new Error("parameter 'tool' is required");
        }
        // recursive when check=true
        if (check) {
            const result = yield which(tool, false);
            if (!result) {
                if (IS_WINDOWS) {
                    throw new Error(`Unable to locate executable file: ${tool}. Please verify either the file path exists or the file can be found within a directory specified by the PATH environment variable. Also verify the file has a valid extension for an executable file.`);
                }
                else {
                    throw new Error(`Unable to locate executable file: ${tool}. Please verify either the file path exists or the file can be found within a directory specified by the PATH environment variable. Also check the file mode to verify the file is executable.`);
                }
            }
            return result;
        }
        const matches = yield findInPath(tool);
        if (matches && matches.length > 0) {
            return matches[0];
        }
        return '';
    });
}
/**
 * Returns a list of all occurrences of the given tool on the system path.
 *
 * @returns   Promise<string[]>  the paths of the tool
 */
function findInPath(tool) {
    return io_awaiter(this, void 0, void 0, function* () {
        if (!tool) {
            throw new Error("parameter 'tool' is required");
        }
        // build the list of extensions to try
        const extensions = [];
        if (IS_WINDOWS && process.env['PATHEXT']) {
            for (const extension of process.env['PATHEXT'].split(external_path_namespaceObject.delimiter)) {
                if (extension) {
                    extensions.push(extension);
                }
            }
        }
        // if it's rooted, return it if exists. otherwise return empty.
        if (isRooted(tool)) {
            const filePath = yield tryGetExecutablePath(tool, extensions);
            if (filePath) {
                return [filePath];
            }
            return [];
        }
        // if any path separators, return empty
        if (tool.includes(external_path_namespaceObject.sep)) {
            return [];
        }
        // build the list of directories
        //
        // Note, technically "where" checks the current directory on Windows. From a toolkit perspective,
        // it feels like we should not do this. Checking the current directory seems like more of a use
        // case of a shell, and the which() function exposed by the toolkit should strive for consistency
        // across platforms.
        const directories = [];
        if (process.env.PATH) {
            for (const p of process.env.PATH.split(external_path_namespaceObject.delimiter)) {
                if (p) {
                    directories.push(p);
                }
            }
        }
        // find all matches
        const matches = [];
        for (const directory of directories) {
            const filePath = yield tryGetExecutablePath(external_path_namespaceObject.join(directory, tool), extensions);
            if (filePath) {
                matches.push(filePath);
            }
        }
        return matches;
    });
}
function readCopyOptions(options) {
    const force = options.force == null ? true : options.force;
    const recursive = Boolean(options.recursive);
    const copySourceDirectory = options.copySourceDirectory == null
        ? true
        : Boolean(options.copySourceDirectory);
    return { force, recursive, copySourceDirectory };
}
function cpDirRecursive(sourceDir, destDir, currentDepth, force) {
    return io_awaiter(this, void 0, void 0, function* () {
        // Ensure there is not a run away recursive copy
        if (currentDepth >= 255)
            return;
        currentDepth++;
        yield mkdirP(destDir);
        const files = yield ioUtil.readdir(sourceDir);
        for (const fileName of files) {
            const srcFile = `${sourceDir}/${fileName}`;
            const destFile = `${destDir}/${fileName}`;
            const srcFileStat = yield ioUtil.lstat(srcFile);
            if (srcFileStat.isDirectory()) {
                // Recurse
                yield cpDirRecursive(srcFile, destFile, currentDepth, force);
            }
            else {
                yield io_copyFile(srcFile, destFile, force);
            }
        }
        // Change the mode for the newly created directory
        yield ioUtil.chmod(destDir, (yield ioUtil.stat(sourceDir)).mode);
    });
}
// Buffered file copy
function io_copyFile(srcFile, destFile, force) {
    return io_awaiter(this, void 0, void 0, function* () {
        if ((yield ioUtil.lstat(srcFile)).isSymbolicLink()) {
            // unlink/re-link it
            try {
                yield ioUtil.lstat(destFile);
                yield ioUtil.unlink(destFile);
            }
            catch (e) {
                // Try to override file permission
                if (e.code === 'EPERM') {
                    yield ioUtil.chmod(destFile, '0666');
                    yield ioUtil.unlink(destFile);
                }
                // other errors = it doesn't exist, no work to do
            }
            // Copy over symlink
            const symlinkFull = yield ioUtil.readlink(srcFile);
            yield ioUtil.symlink(symlinkFull, destFile, ioUtil.IS_WINDOWS ? 'junction' : null);
        }
        else if (!(yield ioUtil.exists(destFile)) || force) {
            yield ioUtil.copyFile(srcFile, destFile);
        }
    });
}
//# sourceMappingURL=io.js.map
;// CONCATENATED MODULE: external "timers"
const external_timers_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("timers");
;// CONCATENATED MODULE: ./node_modules/@actions/exec/lib/toolrunner.js
var toolrunner_awaiter = (undefined && undefined.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};







/* eslint-disable @typescript-eslint/unbound-method */
const toolrunner_IS_WINDOWS = process.platform === 'win32';
/*
 * Class for running command line tools. Handles quoting and arg parsing in a platform agnostic way.
 */
class ToolRunner extends external_events_.EventEmitter {
    constructor(toolPath, args, options) {
        super();
        if (!toolPath) {
            throw new Error("Parameter 'toolPath' cannot be null or empty.");
        }
        this.toolPath = toolPath;
        this.args = args || [];
        this.options = options || {};
    }
    _debug(message) {
        if (this.options.listeners && this.options.listeners.debug) {
            this.options.listeners.debug(message);
        }
    }
    _getCommandString(options, noPrefix) {
        const toolPath = this._getSpawnFileName();
        const args = this._getSpawnArgs(options);
        let cmd = noPrefix ? '' : '[command]'; // omit prefix when piped to a second tool
        if (toolrunner_IS_WINDOWS) {
            // Windows + cmd file
            if (this._isCmdFile()) {
                cmd += toolPath;
                for (const a of args) {
                    cmd += ` ${a}`;
                }
            }
            // Windows + verbatim
            else if (options.windowsVerbatimArguments) {
                cmd += `"${toolPath}"`;
                for (const a of args) {
                    cmd += ` ${a}`;
                }
            }
            // Windows (regular)
            else {
                cmd += this._windowsQuoteCmdArg(toolPath);
                for (const a of args) {
                    cmd += ` ${this._windowsQuoteCmdArg(a)}`;
                }
            }
        }
        else {
            // OSX/Linux - this can likely be improved with some form of quoting.
            // creating processes on Unix is fundamentally different than Windows.
            // on Unix, execvp() takes an arg array.
            cmd += toolPath;
            for (const a of args) {
                cmd += ` ${a}`;
            }
        }
        return cmd;
    }
    _processLineBuffer(data, strBuffer, onLine) {
        try {
            let s = strBuffer + data.toString();
            let n = s.indexOf(external_os_.EOL);
            while (n > -1) {
                const line = s.substring(0, n);
                onLine(line);
                // the rest of the string ...
                s = s.substring(n + external_os_.EOL.length);
                n = s.indexOf(external_os_.EOL);
            }
            return s;
        }
        catch (err) {
            // streaming lines to console is best effort.  Don't fail a build.
            this._debug(`error processing line. Failed with error ${err}`);
            return '';
        }
    }
    _getSpawnFileName() {
        if (toolrunner_IS_WINDOWS) {
            if (this._isCmdFile()) {
                return process.env['COMSPEC'] || 'cmd.exe';
            }
        }
        return this.toolPath;
    }
    _getSpawnArgs(options) {
        if (toolrunner_IS_WINDOWS) {
            if (this._isCmdFile()) {
                let argline = `/D /S /C "${this._windowsQuoteCmdArg(this.toolPath)}`;
                for (const a of this.args) {
                    argline += ' ';
                    argline += options.windowsVerbatimArguments
                        ? a
                        : this._windowsQuoteCmdArg(a);
                }
                argline += '"';
                return [argline];
            }
        }
        return this.args;
    }
    _endsWith(str, end) {
        return str.endsWith(end);
    }
    _isCmdFile() {
        const upperToolPath = this.toolPath.toUpperCase();
        return (this._endsWith(upperToolPath, '.CMD') ||
            this._endsWith(upperToolPath, '.BAT'));
    }
    _windowsQuoteCmdArg(arg) {
        // for .exe, apply the normal quoting rules that libuv applies
        if (!this._isCmdFile()) {
            return this._uvQuoteCmdArg(arg);
        }
        // otherwise apply quoting rules specific to the cmd.exe command line parser.
        // the libuv rules are generic and are not designed specifically for cmd.exe
        // command line parser.
        //
        // for a detailed description of the cmd.exe command line parser, refer to
        // http://stackoverflow.com/questions/4094699/how-does-the-windows-command-interpreter-cmd-exe-parse-scripts/7970912#7970912
        // need quotes for empty arg
        if (!arg) {
            return '""';
        }
        // determine whether the arg needs to be quoted
        const cmdSpecialChars = [
            ' ',
            '\t',
            '&',
            '(',
            ')',
            '[',
            ']',
            '{',
            '}',
            '^',
            '=',
            ';',
            '!',
            "'",
            '+',
            ',',
            '`',
            '~',
            '|',
            '<',
            '>',
            '"'
        ];
        let needsQuotes = false;
        for (const char of arg) {
            if (cmdSpecialChars.some(x => x === char)) {
                needsQuotes = true;
                break;
            }
        }
        // short-circuit if quotes not needed
        if (!needsQuotes) {
            return arg;
        }
        // the following quoting rules are very similar to the rules that by libuv applies.
        //
        // 1) wrap the string in quotes
        //
        // 2) double-up quotes - i.e. " => ""
        //
        //    this is different from the libuv quoting rules. libuv replaces " with \", which unfortunately
        //    doesn't work well with a cmd.exe command line.
        //
        //    note, replacing " with "" also works well if the arg is passed to a downstream .NET console app.
        //    for example, the command line:
        //          foo.exe "myarg:""my val"""
        //    is parsed by a .NET console app into an arg array:
        //          [ "myarg:\"my val\"" ]
        //    which is the same end result when applying libuv quoting rules. although the actual
        //    command line from libuv quoting rules would look like:
        //          foo.exe "myarg:\"my val\""
        //
        // 3) double-up slashes that precede a quote,
        //    e.g.  hello \world    => "hello \world"
        //          hello\"world    => "hello\\""world"
        //          hello\\"world   => "hello\\\\""world"
        //          hello world\    => "hello world\\"
        //
        //    technically this is not required for a cmd.exe command line, or the batch argument parser.
        //    the reasons for including this as a .cmd quoting rule are:
        //
        //    a) this is optimized for the scenario where the argument is passed from the .cmd file to an
        //       external program. many programs (e.g. .NET console apps) rely on the slash-doubling rule.
        //
        //    b) it's what we've been doing previously (by deferring to node default behavior) and we
        //       haven't heard any complaints about that aspect.
        //
        // note, a weakness of the quoting rules chosen here, is that % is not escaped. in fact, % cannot be
        // escaped when used on the command line directly - even though within a .cmd file % can be escaped
        // by using %%.
        //
        // the saving grace is, on the command line, %var% is left as-is if var is not defined. this contrasts
        // the line parsing rules within a .cmd file, where if var is not defined it is replaced with nothing.
        //
        // one option that was explored was replacing % with ^% - i.e. %var% => ^%var^%. this hack would
        // often work, since it is unlikely that var^ would exist, and the ^ character is removed when the
        // variable is used. the problem, however, is that ^ is not removed when %* is used to pass the args
        // to an external program.
        //
        // an unexplored potential solution for the % escaping problem, is to create a wrapper .cmd file.
        // % can be escaped within a .cmd file.
        let reverse = '"';
        let quoteHit = true;
        for (let i = arg.length; i > 0; i--) {
            // walk the string in reverse
            reverse += arg[i - 1];
            if (quoteHit && arg[i - 1] === '\\') {
                reverse += '\\'; // double the slash
            }
            else if (arg[i - 1] === '"') {
                quoteHit = true;
                reverse += '"'; // double the quote
            }
            else {
                quoteHit = false;
            }
        }
        reverse += '"';
        return reverse.split('').reverse().join('');
    }
    _uvQuoteCmdArg(arg) {
        // Tool runner wraps child_process.spawn() and needs to apply the same quoting as
        // Node in certain cases where the undocumented spawn option windowsVerbatimArguments
        // is used.
        //
        // Since this function is a port of quote_cmd_arg from Node 4.x (technically, lib UV,
        // see https://github.com/nodejs/node/blob/v4.x/deps/uv/src/win/process.c for details),
        // pasting copyright notice from Node within this function:
        //
        //      Copyright Joyent, Inc. and other Node contributors. All rights reserved.
        //
        //      Permission is hereby granted, free of charge, to any person obtaining a copy
        //      of this software and associated documentation files (the "Software"), to
        //      deal in the Software without restriction, including without limitation the
        //      rights to use, copy, modify, merge, publish, distribute, sublicense, and/or
        //      sell copies of the Software, and to permit persons to whom the Software is
        //      furnished to do so, subject to the following conditions:
        //
        //      The above copyright notice and this permission notice shall be included in
        //      all copies or substantial portions of the Software.
        //
        //      THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
        //      IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
        //      FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
        //      AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
        //      LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
        //      FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS
        //      IN THE SOFTWARE.
        if (!arg) {
            // Need double quotation for empty argument
            return '""';
        }
        if (!arg.includes(' ') && !arg.includes('\t') && !arg.includes('"')) {
            // No quotation needed
            return arg;
        }
        if (!arg.includes('"') && !arg.includes('\\')) {
            // No embedded double quotes or backslashes, so I can just wrap
            // quote marks around the whole thing.
            return `"${arg}"`;
        }
        // Expected input/output:
        //   input : hello"world
        //   output: "hello\"world"
        //   input : hello""world
        //   output: "hello\"\"world"
        //   input : hello\world
        //   output: hello\world
        //   input : hello\\world
        //   output: hello\\world
        //   input : hello\"world
        //   output: "hello\\\"world"
        //   input : hello\\"world
        //   output: "hello\\\\\"world"
        //   input : hello world\
        //   output: "hello world\\" - note the comment in libuv actually reads "hello world\"
        //                             but it appears the comment is wrong, it should be "hello world\\"
        let reverse = '"';
        let quoteHit = true;
        for (let i = arg.length; i > 0; i--) {
            // walk the string in reverse
            reverse += arg[i - 1];
            if (quoteHit && arg[i - 1] === '\\') {
                reverse += '\\';
            }
            else if (arg[i - 1] === '"') {
                quoteHit = true;
                reverse += '\\';
            }
            else {
                quoteHit = false;
            }
        }
        reverse += '"';
        return reverse.split('').reverse().join('');
    }
    _cloneExecOptions(options) {
        options = options || {};
        const result = {
            cwd: options.cwd || process.cwd(),
            env: options.env || process.env,
            silent: options.silent || false,
            windowsVerbatimArguments: options.windowsVerbatimArguments || false,
            failOnStdErr: options.failOnStdErr || false,
            ignoreReturnCode: options.ignoreReturnCode || false,
            delay: options.delay || 10000
        };
        result.outStream = options.outStream || process.stdout;
        result.errStream = options.errStream || process.stderr;
        return result;
    }
    _getSpawnOptions(options, toolPath) {
        options = options || {};
        const result = {};
        result.cwd = options.cwd;
        result.env = options.env;
        result['windowsVerbatimArguments'] =
            options.windowsVerbatimArguments || this._isCmdFile();
        if (options.windowsVerbatimArguments) {
            result.argv0 = `"${toolPath}"`;
        }
        return result;
    }
    /**
     * Exec a tool.
     * Output will be streamed to the live console.
     * Returns promise with return code
     *
     * @param     tool     path to tool to exec
     * @param     options  optional exec options.  See ExecOptions
     * @returns   number
     */
    exec() {
        return toolrunner_awaiter(this, void 0, void 0, function* () {
            // root the tool path if it is unrooted and contains relative pathing
            if (!isRooted(this.toolPath) &&
                (this.toolPath.includes('/') ||
                    (toolrunner_IS_WINDOWS && this.toolPath.includes('\\')))) {
                // prefer options.cwd if it is specified, however options.cwd may also need to be rooted
                this.toolPath = external_path_namespaceObject.resolve(process.cwd(), this.options.cwd || process.cwd(), this.toolPath);
            }
            // if the tool is only a file name, then resolve it from the PATH
            // otherwise verify it exists (add extension on Windows if necessary)
            this.toolPath = yield which(this.toolPath, true);
            return new Promise((resolve, reject) => toolrunner_awaiter(this, void 0, void 0, function* () {
                this._debug(`exec tool: ${this.toolPath}`);
                this._debug('arguments:');
                for (const arg of this.args) {
                    this._debug(`   ${arg}`);
                }
                const optionsNonNull = this._cloneExecOptions(this.options);
                if (!optionsNonNull.silent && optionsNonNull.outStream) {
                    optionsNonNull.outStream.write(this._getCommandString(optionsNonNull) + external_os_.EOL);
                }
                const state = new ExecState(optionsNonNull, this.toolPath);
                state.on('debug', (message) => {
                    this._debug(message);
                });
                if (this.options.cwd && !(yield exists(this.options.cwd))) {
                    return reject(new Error(`The cwd: ${this.options.cwd} does not exist!`));
                }
                const fileName = this._getSpawnFileName();
                const cp = external_child_process_namespaceObject.spawn(fileName, this._getSpawnArgs(optionsNonNull), this._getSpawnOptions(this.options, fileName));
                let stdbuffer = '';
                if (cp.stdout) {
                    cp.stdout.on('data', (data) => {
                        if (this.options.listeners && this.options.listeners.stdout) {
                            this.options.listeners.stdout(data);
                        }
                        if (!optionsNonNull.silent && optionsNonNull.outStream) {
                            optionsNonNull.outStream.write(data);
                        }
                        stdbuffer = this._processLineBuffer(data, stdbuffer, (line) => {
                            if (this.options.listeners && this.options.listeners.stdline) {
                                this.options.listeners.stdline(line);
                            }
                        });
                    });
                }
                let errbuffer = '';
                if (cp.stderr) {
                    cp.stderr.on('data', (data) => {
                        state.processStderr = true;
                        if (this.options.listeners && this.options.listeners.stderr) {
                            this.options.listeners.stderr(data);
                        }
                        if (!optionsNonNull.silent &&
                            optionsNonNull.errStream &&
                            optionsNonNull.outStream) {
                            const s = optionsNonNull.failOnStdErr
                                ? optionsNonNull.errStream
                                : optionsNonNull.outStream;
                            s.write(data);
                        }
                        errbuffer = this._processLineBuffer(data, errbuffer, (line) => {
                            if (this.options.listeners && this.options.listeners.errline) {
                                this.options.listeners.errline(line);
                            }
                        });
                    });
                }
                cp.on('error', (err) => {
                    state.processError = err.message;
                    state.processExited = true;
                    state.processClosed = true;
                    state.CheckComplete();
                });
                cp.on('exit', (code) => {
                    state.processExitCode = code;
                    state.processExited = true;
                    this._debug(`Exit code ${code} received from tool '${this.toolPath}'`);
                    state.CheckComplete();
                });
                cp.on('close', (code) => {
                    state.processExitCode = code;
                    state.processExited = true;
                    state.processClosed = true;
                    this._debug(`STDIO streams have closed for tool '${this.toolPath}'`);
                    state.CheckComplete();
                });
                state.on('done', (error, exitCode) => {
                    if (stdbuffer.length > 0) {
                        this.emit('stdline', stdbuffer);
                    }
                    if (errbuffer.length > 0) {
                        this.emit('errline', errbuffer);
                    }
                    cp.removeAllListeners();
                    if (error) {
                        reject(error);
                    }
                    else {
                        resolve(exitCode);
                    }
                });
                if (this.options.input) {
                    if (!cp.stdin) {
                        throw new Error('child process missing stdin');
                    }
                    cp.stdin.end(this.options.input);
                }
            }));
        });
    }
}
/**
 * Convert an arg string to an array of args. Handles escaping
 *
 * @param    argString   string of arguments
 * @returns  string[]    array of arguments
 */
function argStringToArray(argString) {
    const args = [];
    let inQuotes = false;
    let escaped = false;
    let arg = '';
    function append(c) {
        // we only escape double quotes.
        if (escaped && c !== '"') {
            arg += '\\';
        }
        arg += c;
        escaped = false;
    }
    for (let i = 0; i < argString.length; i++) {
        const c = argString.charAt(i);
        if (c === '"') {
            if (!escaped) {
                inQuotes = !inQuotes;
            }
            else {
                append(c);
            }
            continue;
        }
        if (c === '\\' && escaped) {
            append(c);
            continue;
        }
        if (c === '\\' && inQuotes) {
            escaped = true;
            continue;
        }
        if (c === ' ' && !inQuotes) {
            if (arg.length > 0) {
                args.push(arg);
                arg = '';
            }
            continue;
        }
        append(c);
    }
    if (arg.length > 0) {
        args.push(arg.trim());
    }
    return args;
}
class ExecState extends external_events_.EventEmitter {
    constructor(options, toolPath) {
        super();
        this.processClosed = false; // tracks whether the process has exited and stdio is closed
        this.processError = '';
        this.processExitCode = 0;
        this.processExited = false; // tracks whether the process has exited
        this.processStderr = false; // tracks whether stderr was written to
        this.delay = 10000; // 10 seconds
        this.done = false;
        this.timeout = null;
        if (!toolPath) {
            throw new Error('toolPath must not be empty');
        }
        this.options = options;
        this.toolPath = toolPath;
        if (options.delay) {
            this.delay = options.delay;
        }
    }
    CheckComplete() {
        if (this.done) {
            return;
        }
        if (this.processClosed) {
            this._setResult();
        }
        else if (this.processExited) {
            this.timeout = (0,external_timers_namespaceObject.setTimeout)(ExecState.HandleTimeout, this.delay, this);
        }
    }
    _debug(message) {
        this.emit('debug', message);
    }
    _setResult() {
        // determine whether there is an error
        let error;
        if (this.processExited) {
            if (this.processError) {
                error = new Error(`There was an error when attempting to execute the process '${this.toolPath}'. This may indicate the process failed to start. Error: ${this.processError}`);
            }
            else if (this.processExitCode !== 0 && !this.options.ignoreReturnCode) {
                error = new Error(`The process '${this.toolPath}' failed with exit code ${this.processExitCode}`);
            }
            else if (this.processStderr && this.options.failOnStdErr) {
                error = new Error(`The process '${this.toolPath}' failed because one or more lines were written to the STDERR stream`);
            }
        }
        // clear the timeout
        if (this.timeout) {
            clearTimeout(this.timeout);
            this.timeout = null;
        }
        this.done = true;
        this.emit('done', error, this.processExitCode);
    }
    static HandleTimeout(state) {
        if (state.done) {
            return;
        }
        if (!state.processClosed && state.processExited) {
            const message = `The STDIO streams did not close within ${state.delay / 1000} seconds of the exit event from process '${state.toolPath}'. This may indicate a child process inherited the STDIO streams and has not yet exited.`;
            state._debug(message);
        }
        state._setResult();
    }
}
//# sourceMappingURL=toolrunner.js.map
;// CONCATENATED MODULE: ./node_modules/@actions/exec/lib/exec.js
var exec_awaiter = (undefined && undefined.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};


/**
 * Exec a command.
 * Output will be streamed to the live console.
 * Returns promise with return code
 *
 * @param     commandLine        command to execute (can include additional args). Must be correctly escaped.
 * @param     args               optional arguments for tool. Escaping is handled by the lib.
 * @param     options            optional exec options.  See ExecOptions
 * @returns   Promise<number>    exit code
 */
function exec_exec(commandLine, args, options) {
    return exec_awaiter(this, void 0, void 0, function* () {
        const commandArgs = tr.argStringToArray(commandLine);
        if (commandArgs.length === 0) {
            throw new Error(`Parameter 'commandLine' cannot be null or empty.`);
        }
        // Path to tool to execute should be first arg
        const toolPath = commandArgs[0];
        args = commandArgs.slice(1).concat(args || []);
        const runner = new tr.ToolRunner(toolPath, args, options);
        return runner.exec();
    });
}
/**
 * Exec a command and get the output.
 * Output will be streamed to the live console.
 * Returns promise with the exit code and collected stdout and stderr
 *
 * @param     commandLine           command to execute (can include additional args). Must be correctly escaped.
 * @param     args                  optional arguments for tool. Escaping is handled by the lib.
 * @param     options               optional exec options.  See ExecOptions
 * @returns   Promise<ExecOutput>   exit code, stdout, and stderr
 */
function getExecOutput(commandLine, args, options) {
    return exec_awaiter(this, void 0, void 0, function* () {
        var _a, _b;
        let stdout = '';
        let stderr = '';
        //Using string decoder covers the case where a mult-byte character is split
        const stdoutDecoder = new StringDecoder('utf8');
        const stderrDecoder = new StringDecoder('utf8');
        const originalStdoutListener = (_a = options === null || options === void 0 ? void 0 : options.listeners) === null || _a === void 0 ? void 0 : _a.stdout;
        const originalStdErrListener = (_b = options === null || options === void 0 ? void 0 : options.listeners) === null || _b === void 0 ? void 0 : _b.stderr;
        const stdErrListener = (data) => {
            stderr += stderrDecoder.write(data);
            if (originalStdErrListener) {
                originalStdErrListener(data);
            }
        };
        const stdOutListener = (data) => {
            stdout += stdoutDecoder.write(data);
            if (originalStdoutListener) {
                originalStdoutListener(data);
            }
        };
        const listeners = Object.assign(Object.assign({}, options === null || options === void 0 ? void 0 : options.listeners), { stdout: stdOutListener, stderr: stdErrListener });
        const exitCode = yield exec_exec(commandLine, args, Object.assign(Object.assign({}, options), { listeners }));
        //flush any remaining characters
        stdout += stdoutDecoder.end();
        stderr += stderrDecoder.end();
        return {
            exitCode,
            stdout,
            stderr
        };
    });
}
//# sourceMappingURL=exec.js.map
;// CONCATENATED MODULE: ./node_modules/@actions/core/lib/platform.js
var platform_awaiter = (undefined && undefined.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};


const getWindowsInfo = () => platform_awaiter(void 0, void 0, void 0, function* () {
    const { stdout: version } = yield exec.getExecOutput('powershell -command "(Get-CimInstance -ClassName Win32_OperatingSystem).Version"', undefined, {
        silent: true
    });
    const { stdout: name } = yield exec.getExecOutput('powershell -command "(Get-CimInstance -ClassName Win32_OperatingSystem).Caption"', undefined, {
        silent: true
    });
    return {
        name: name.trim(),
        version: version.trim()
    };
});
const getMacOsInfo = () => platform_awaiter(void 0, void 0, void 0, function* () {
    var _a, _b, _c, _d;
    const { stdout } = yield exec.getExecOutput('sw_vers', undefined, {
        silent: true
    });
    const version = (_b = (_a = stdout.match(/ProductVersion:\s*(.+)/)) === null || _a === void 0 ? void 0 : _a[1]) !== null && _b !== void 0 ? _b : '';
    const name = (_d = (_c = stdout.match(/ProductName:\s*(.+)/)) === null || _c === void 0 ? void 0 : _c[1]) !== null && _d !== void 0 ? _d : '';
    return {
        name,
        version
    };
});
const getLinuxInfo = () => platform_awaiter(void 0, void 0, void 0, function* () {
    const { stdout } = yield exec.getExecOutput('lsb_release', ['-i', '-r', '-s'], {
        silent: true
    });
    const [name, version] = stdout.trim().split('\n');
    return {
        name,
        version
    };
});
const platform = external_os_.platform();
const arch = external_os_.arch();
const isWindows = platform === 'win32';
const isMacOS = platform === 'darwin';
const isLinux = platform === 'linux';
function getDetails() {
    return platform_awaiter(this, void 0, void 0, function* () {
        return Object.assign(Object.assign({}, (yield (isWindows
            ? getWindowsInfo()
            : isMacOS
                ? getMacOsInfo()
                : getLinuxInfo()))), { platform,
            arch,
            isWindows,
            isMacOS,
            isLinux });
    });
}
//# sourceMappingURL=platform.js.map
;// CONCATENATED MODULE: ./node_modules/@actions/core/lib/core.js
var core_awaiter = (undefined && undefined.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};






/**
 * The code to exit an action
 */
var ExitCode;
(function (ExitCode) {
    /**
     * A code indicating that the action was successful
     */
    ExitCode[ExitCode["Success"] = 0] = "Success";
    /**
     * A code indicating that the action was a failure
     */
    ExitCode[ExitCode["Failure"] = 1] = "Failure";
})(ExitCode || (ExitCode = {}));
//-----------------------------------------------------------------------
// Variables
//-----------------------------------------------------------------------
/**
 * Sets env variable for this action and future actions in the job
 * @param name the name of the variable to set
 * @param val the value of the variable. Non-string values will be converted to a string via JSON.stringify
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function exportVariable(name, val) {
    const convertedVal = toCommandValue(val);
    process.env[name] = convertedVal;
    const filePath = process.env['GITHUB_ENV'] || '';
    if (filePath) {
        return file_command_issueFileCommand('ENV', prepareKeyValueMessage(name, val));
    }
    command_issueCommand('set-env', { name }, convertedVal);
}
/**
 * Registers a secret which will get masked from logs
 *
 * @param secret - Value of the secret to be masked
 * @remarks
 * This function instructs the Actions runner to mask the specified value in any
 * logs produced during the workflow run. Once registered, the secret value will
 * be replaced with asterisks (***) whenever it appears in console output, logs,
 * or error messages.
 *
 * This is useful for protecting sensitive information such as:
 * - API keys
 * - Access tokens
 * - Authentication credentials
 * - URL parameters containing signatures (SAS tokens)
 *
 * Note that masking only affects future logs; any previous appearances of the
 * secret in logs before calling this function will remain unmasked.
 *
 * @example
 * ```typescript
 * // Register an API token as a secret
 * const apiToken = "abc123xyz456";
 * setSecret(apiToken);
 *
 * // Now any logs containing this value will show *** instead
 * console.log(`Using token: ${apiToken}`); // Outputs: "Using token: ***"
 * ```
 */
function core_setSecret(secret) {
    command_issueCommand('add-mask', {}, secret);
}
/**
 * Prepends inputPath to the PATH (for this action and future actions)
 * @param inputPath
 */
function addPath(inputPath) {
    const filePath = process.env['GITHUB_PATH'] || '';
    if (filePath) {
        issueFileCommand('PATH', inputPath);
    }
    else {
        issueCommand('add-path', {}, inputPath);
    }
    process.env['PATH'] = `${inputPath}${path.delimiter}${process.env['PATH']}`;
}
/**
 * Gets the value of an input.
 * Unless trimWhitespace is set to false in InputOptions, the value is also trimmed.
 * Returns an empty string if the value is not defined.
 *
 * @param     name     name of the input to get
 * @param     options  optional. See InputOptions.
 * @returns   string
 */
function getInput(name, options) {
    const val = process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] || '';
    if (options && options.required && !val) {
        throw new Error(`Input required and not supplied: ${name}`);
    }
    if (options && options.trimWhitespace === false) {
        return val;
    }
    return val.trim();
}
/**
 * Gets the values of an multiline input.  Each value is also trimmed.
 *
 * @param     name     name of the input to get
 * @param     options  optional. See InputOptions.
 * @returns   string[]
 *
 */
function getMultilineInput(name, options) {
    const inputs = getInput(name, options)
        .split('\n')
        .filter(x => x !== '');
    if (options && options.trimWhitespace === false) {
        return inputs;
    }
    return inputs.map(input => input.trim());
}
/**
 * Gets the input value of the boolean type in the YAML 1.2 "core schema" specification.
 * Support boolean input list: `true | True | TRUE | false | False | FALSE` .
 * The return value is also in boolean type.
 * ref: https://yaml.org/spec/1.2/spec.html#id2804923
 *
 * @param     name     name of the input to get
 * @param     options  optional. See InputOptions.
 * @returns   boolean
 */
function getBooleanInput(name, options) {
    const trueValue = ['true', 'True', 'TRUE'];
    const falseValue = ['false', 'False', 'FALSE'];
    const val = getInput(name, options);
    if (trueValue.includes(val))
        return true;
    if (falseValue.includes(val))
        return false;
    throw new TypeError(`Input does not meet YAML 1.2 "Core Schema" specification: ${name}\n` +
        `Support boolean input list: \`true | True | TRUE | false | False | FALSE\``);
}
/**
 * Sets the value of an output.
 *
 * @param     name     name of the output to set
 * @param     value    value to store. Non-string values will be converted to a string via JSON.stringify
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function setOutput(name, value) {
    const filePath = process.env['GITHUB_OUTPUT'] || '';
    if (filePath) {
        return file_command_issueFileCommand('OUTPUT', prepareKeyValueMessage(name, value));
    }
    process.stdout.write(external_os_.EOL);
    command_issueCommand('set-output', { name }, toCommandValue(value));
}
/**
 * Enables or disables the echoing of commands into stdout for the rest of the step.
 * Echoing is disabled by default if ACTIONS_STEP_DEBUG is not set.
 *
 */
function setCommandEcho(enabled) {
    issue('echo', enabled ? 'on' : 'off');
}
//-----------------------------------------------------------------------
// Results
//-----------------------------------------------------------------------
/**
 * Sets the action status to failed.
 * When the action exits it will be with an exit code of 1
 * @param message add error issue message
 */
function setFailed(message) {
    process.exitCode = ExitCode.Failure;
    error(message);
}
//-----------------------------------------------------------------------
// Logging Commands
//-----------------------------------------------------------------------
/**
 * Gets whether Actions Step Debug is on or not
 */
function isDebug() {
    return process.env['RUNNER_DEBUG'] === '1';
}
/**
 * Writes debug message to user log
 * @param message debug message
 */
function core_debug(message) {
    command_issueCommand('debug', {}, message);
}
/**
 * Adds an error issue
 * @param message error issue message. Errors will be converted to string via toString()
 * @param properties optional properties to add to the annotation.
 */
function error(message, properties = {}) {
    command_issueCommand('error', utils_toCommandProperties(properties), message instanceof Error ? message.toString() : message);
}
/**
 * Adds a warning issue
 * @param message warning issue message. Errors will be converted to string via toString()
 * @param properties optional properties to add to the annotation.
 */
function core_warning(message, properties = {}) {
    command_issueCommand('warning', utils_toCommandProperties(properties), message instanceof Error ? message.toString() : message);
}
/**
 * Adds a notice issue
 * @param message notice issue message. Errors will be converted to string via toString()
 * @param properties optional properties to add to the annotation.
 */
function notice(message, properties = {}) {
    issueCommand('notice', toCommandProperties(properties), message instanceof Error ? message.toString() : message);
}
/**
 * Writes info to log with console.log.
 * @param message info message
 */
function info(message) {
    process.stdout.write(message + external_os_.EOL);
}
/**
 * Begin an output group.
 *
 * Output until the next `groupEnd` will be foldable in this group
 *
 * @param name The name of the output group
 */
function startGroup(name) {
    command_issue('group', name);
}
/**
 * End an output group.
 */
function endGroup() {
    command_issue('endgroup');
}
/**
 * Wrap an asynchronous function call in a group.
 *
 * Returns the same type as the function itself.
 *
 * @param name The name of the group
 * @param fn The function to wrap in the group
 */
function group(name, fn) {
    return core_awaiter(this, void 0, void 0, function* () {
        startGroup(name);
        let result;
        try {
            result = yield fn();
        }
        finally {
            endGroup();
        }
        return result;
    });
}
//-----------------------------------------------------------------------
// Wrapper action state
//-----------------------------------------------------------------------
/**
 * Saves state for current action, the state can only be retrieved by this action's post job execution.
 *
 * @param     name     name of the state to store
 * @param     value    value to store. Non-string values will be converted to a string via JSON.stringify
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function saveState(name, value) {
    const filePath = process.env['GITHUB_STATE'] || '';
    if (filePath) {
        return file_command_issueFileCommand('STATE', prepareKeyValueMessage(name, value));
    }
    command_issueCommand('save-state', { name }, toCommandValue(value));
}
/**
 * Gets the value of an state set by this action's main execution.
 *
 * @param     name     name of the state to get
 * @returns   string
 */
function getState(name) {
    return process.env[`STATE_${name}`] || '';
}
function getIDToken(aud) {
    return core_awaiter(this, void 0, void 0, function* () {
        return yield OidcClient.getIDToken(aud);
    });
}
/**
 * Summary exports
 */

/**
 * @deprecated use core.summary
 */

/**
 * Path exports
 */

/**
 * Platform utilities exports
 */

//# sourceMappingURL=core.js.map
;// CONCATENATED MODULE: ./src/common/errors.ts
/** A user mistake in an input: the message names the input and what to write instead. */
class InputError extends Error {
    input;
    constructor(input, problem, fix) {
        super(`Input '${input}': ${problem}. ${fix}`);
        this.input = input;
        this.name = 'InputError';
    }
}
function errorMessage(e) {
    return e instanceof Error ? e.message : String(e);
}

;// CONCATENATED MODULE: ./src/action/on-cancel.ts
// Work that must be undone even when the step is cancelled: a stopped daemon restarted, a
// half-made dir unregistered, a lock released. The runner sends SIGINT/SIGTERM on cancel and
// SIGKILL a few seconds later, so handlers run the registered cleanups promptly and exit.


const cleanups = [];
/** Registers `fn` to run on termination; returns the function that unregisters it. */
function registerCleanup(fn) {
    cleanups.push(fn);
    return () => {
        const i = cleanups.indexOf(fn);
        if (i >= 0)
            cleanups.splice(i, 1);
    };
}
/** Runs the registered cleanups newest first; every one runs even if another fails. */
async function runCleanups() {
    while (cleanups.length > 0) {
        const fn = cleanups.pop();
        try {
            await fn();
        }
        catch (e) {
            core_warning(`cleanup failed: ${errorMessage(e)}`);
        }
    }
}
let terminating = false;
/** True once a termination signal arrived: work in flight should stop, not start anything new. */
function isTerminating() {
    return terminating;
}
/**
 * On SIGINT/SIGTERM/SIGHUP: end the work in flight, run the cleanups, then exit non-zero (the
 * step was cancelled). Children first: a cleanup that frees a lock while an rm started under
 * it still runs would hand a half-deleted dir to the next run.
 */
function exitOnTermination(step, hooks = {}) {
    const onSignal = (signal) => {
        if (terminating)
            return;
        terminating = true;
        core_warning(`runbox ${step}: received ${signal}, cleaning up before exit`);
        const stopWork = hooks.stopWork?.() ?? Promise.resolve();
        const cleanups = () => (hooks.asCleanup ? hooks.asCleanup(runCleanups) : runCleanups());
        void stopWork
            .catch((e) => core_warning(`stopping child processes failed: ${errorMessage(e)}`))
            .then(cleanups)
            .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    };
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'])
        process.on(s, onSignal);
}

;// CONCATENATED MODULE: external "node:async_hooks"
const external_node_async_hooks_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:async_hooks");
;// CONCATENATED MODULE: external "node:child_process"
const external_node_child_process_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:child_process");
;// CONCATENATED MODULE: external "node:events"
const external_node_events_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:events");
// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __nccwpck_require__(24);
var external_node_fs_default = /*#__PURE__*/__nccwpck_require__.n(external_node_fs_);
;// CONCATENATED MODULE: external "node:net"
const external_node_net_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:net");
var external_node_net_default = /*#__PURE__*/__nccwpck_require__.n(external_node_net_namespaceObject);
// EXTERNAL MODULE: external "node:os"
var external_node_os_ = __nccwpck_require__(161);
var external_node_os_default = /*#__PURE__*/__nccwpck_require__.n(external_node_os_);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __nccwpck_require__(760);
var external_node_path_default = /*#__PURE__*/__nccwpck_require__.n(external_node_path_);
// EXTERNAL MODULE: external "node:stream"
var external_node_stream_ = __nccwpck_require__(75);
// EXTERNAL MODULE: external "node:url"
var external_node_url_ = __nccwpck_require__(136);
;// CONCATENATED MODULE: ./src/sys/path-safety.ts
// Checks every host path that runbox may create, chown, delete or extract into. runbox often
// runs with root rights on hosts shared by many runners, so a typo or an unset variable in a
// path must be refused before anything is touched, never "fixed up".



/** Paths that are never a valid target themselves. */
const SYSTEM_DIRS = new Set([
    '/',
    '/bin',
    '/boot',
    '/dev',
    '/etc',
    '/home',
    '/lib',
    '/lib32',
    '/lib64',
    '/libx32',
    '/media',
    '/mnt',
    '/opt',
    '/proc',
    '/root',
    '/run',
    '/sbin',
    '/srv',
    '/sys',
    '/tmp',
    '/usr',
    '/var',
    '/snap',
    '/nix',
    '/gnu',
    '/var/lib',
    '/var/cache',
    '/var/tmp',
    '/var/log',
    '/var/run',
    '/run/user',
    '/usr/local'
]);
/** Trees nothing of runbox's may live in at any depth. */
const FORBIDDEN_TREES = ['/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/libx32', '/proc', '/sbin', '/sys', '/usr'];
function isUnder(child, parent) {
    if (parent === '/')
        return child !== '/' && child.startsWith('/');
    return child.startsWith(parent + '/');
}
/**
 * Why `p` is not an acceptable host path, or undefined when it is. Pure string checks:
 * absolute, normalised (no '', '.' or '..' components), not a system dir, not inside one.
 */
function pathProblem(p) {
    if (p === '')
        return 'it is empty';
    if (!external_node_path_default().isAbsolute(p))
        return `'${p}' is not an absolute path`;
    if (p !== '/' && p.endsWith('/'))
        p = p.slice(0, -1);
    const parts = p.split('/').slice(1);
    if (p !== '/' && parts.some((c) => c === '' || c === '.' || c === '..'))
        return `'${p}' has an empty, '.' or '..' component`;
    if (/[\0\n\r]/.test(p))
        return `'${p}' contains a control character`;
    if (SYSTEM_DIRS.has(p))
        return `'${p}' is ${p === '/' ? 'the root directory' : 'a system directory'}`;
    const tree = FORBIDDEN_TREES.find((t) => isUnder(p, t));
    if (tree)
        return `'${p}' lies inside the system directory ${tree}`;
    return undefined;
}
/** Strips one trailing slash; callers have validated the path already. */
function normalise(p) {
    return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}
/**
 * The longest existing prefix of `p`, resolved through symlinks, with the not-yet-existing rest
 * appended. Lets us check where a path really lands before we create it.
 */
function resolveExisting(p) {
    let existing = p;
    const rest = [];
    for (;;) {
        try {
            const real = external_node_fs_default().realpathSync(existing);
            return rest.length ? external_node_path_default().join(real, ...rest.reverse()) : real;
        }
        catch (e) {
            if (e.code !== 'ENOENT' && e.code !== 'ENOTDIR')
                throw e;
            rest.push(external_node_path_default().basename(existing));
            existing = external_node_path_default().dirname(existing);
        }
    }
}
/** Symlinks one path may pass through, as the kernel's limit (ELOOP): a loop of root's links ends here. */
const MAX_LINKS = 40;
/**
 * Walks `p` from `/` component by component with lstat. Without `followParents`, the first
 * symlink met is returned. With it, a symlink above `p` owned by root in a dir only root may
 * write to is part of the host's setup (a /nix moved to another disk and linked back) and is
 * resolved: its target is walked the same way, so a root-made link to a path through a link
 * anyone else made is refused too; any other symlink, and `p` itself being one, is returned,
 * with why. Once a link is followed, every real dir on the way, before and after it, must be
 * root's and writable by root alone (a root-owned sticky dir, like /tmp, only where the entry in
 * it is root's), and the link must point at something that exists: a root link into a dir a
 * user owns (a runner's home on the bigger disk) would let that user swap what lies below it
 * between runbox's checks and root's renames into it. Otherwise `real` is the path with those
 * links resolved: realpath's answer for the part that exists, the rest appended. A dir the
 * caller may not search ends the walk (only its owner could have put a link inside).
 */
function walk(p, followParents) {
    const todo = p.split('/').filter((c) => c !== '' && c !== '.');
    let cur = '';
    let links = 0;
    // The real dirs walked so far, each with the entry in it that the walk went on to.
    const chain = [];
    // How many of the next components come from a followed link's target (they must exist).
    let fromTarget = 0;
    // The last link followed: what a refusal further down names.
    let followed = { at: '', target: '' };
    for (let c = todo.shift(); c !== undefined; c = todo.shift()) {
        fromTarget = Math.max(0, fromTarget - 1);
        if (c === '..') {
            // `cur` has no symlink in it, so its parent is the kernel's `..`.
            cur = cur === '' ? '' : external_node_path_default().dirname(cur).replace(/^\/$/, '');
            continue;
        }
        const next = `${cur}/${c}`;
        let st;
        try {
            st = external_node_fs_default().lstatSync(next, { throwIfNoEntry: false });
        }
        catch (e) {
            if (e.code === 'EACCES' || e.code === 'ENOTDIR')
                return { real: external_node_path_default().resolve(next, ...todo) };
            throw e;
        }
        if (!st) {
            if (links > 0 && fromTarget > 0)
                return { link: { ...followed, why: `a symlink on the way points at ${next}, which does not exist (a disk not mounted?)`, fix: 'mount what the link points at, or list the real path' } };
            return { real: external_node_path_default().resolve(next, ...todo) };
        }
        const trust = links > 0 ? untrustedDir(cur || '/', st) : undefined;
        if (trust)
            return { link: { ...followed, why: `a symlink on the way leads through ${trust}`, fix: ROOT_ONLY_FIX } };
        chain.push({ dir: cur || '/', entry: st });
        if (!st.isSymbolicLink()) {
            cur = next;
            continue;
        }
        const target = external_node_fs_default().readlinkSync(next);
        if (!followParents)
            return { link: { at: next, target } };
        // The path itself must be the real dir: what is made, archived or listed there is the dir, never a link.
        if (todo.length === 0)
            return { link: { at: next, target, why: `runbox follows root's symlinks only above the path, and ${next} is the path itself, not its real dir` } };
        const problem = rootMadeProblem(st, cur || '/') ?? (++links > MAX_LINKS ? `it is one of more than ${MAX_LINKS} symlinks on the way` : undefined);
        if (problem)
            return {
                link: {
                    at: next,
                    target,
                    why: `runbox follows only symlinks root made in a dir only root may write to, and ${next} is not one: ${problem}`,
                    fix: "a link of the host's setup must be root's (`chown -h root`), in a dir only root may write to"
                }
            };
        // The first link followed: the dirs above it must be root's alone too (from here on each
        // dir is checked as it is walked).
        if (links === 1)
            for (const { dir, entry } of chain) {
                const bad = untrustedDir(dir, entry);
                if (bad)
                    return { link: { at: next, target, why: `runbox follows root's symlinks only where every dir above them is root's alone, and ${bad}`, fix: ROOT_ONLY_FIX } };
            }
        const parts = target.split('/').filter((t) => t !== '' && t !== '.');
        todo.unshift(...parts);
        fromTarget = parts.length + 1;
        followed = { at: next, target };
        if (target.startsWith('/'))
            cur = '';
    }
    return { real: cur || '/' };
}
const ROOT_ONLY_FIX = 'every dir from / down to the store must be owned by root and writable by root alone (`chown root`, `chmod go-w`), or list a store path that needs no symlink';
/**
 * Why root may not make something in `dir` and trust it to stay there, or undefined: a component
 * is a symlink or missing, or a dir on the way lets another user replace what follows it (a
 * root-owned sticky dir like /tmp is fine: nobody else may rename root's entries in it).
 * `upToMissing`: the path need not exist yet; its existing part is checked, down to the dir in
 * which root would make the rest (or the last one this process may search).
 */
function rootOnlyProblem(dir, opts = {}) {
    let cur = '/';
    // Where root would make the first missing component (root's, 0755, and so the rest): nobody
    // else may write there at all, a sticky bit included, or they could make that name first.
    const makesIn = (d) => {
        const st = external_node_fs_default().statSync(d);
        if (st.uid !== 0)
            return `${d} is owned by uid ${st.uid}`;
        return (st.mode & 0o022) === 0 ? undefined : `${d} may be written by users other than root, who could make what root would make there first`;
    };
    for (const part of normalise(dir).split('/').filter(Boolean)) {
        const next = external_node_path_default().join(cur, part);
        let st;
        try {
            st = external_node_fs_default().lstatSync(next, { throwIfNoEntry: false });
        }
        catch (e) {
            // `cur` is not searchable by this (non-root) process: only what `cur` itself allows matters.
            if (!opts.upToMissing || e.code !== 'EACCES')
                throw e;
            return makesIn(cur);
        }
        if (!st)
            return opts.upToMissing ? makesIn(cur) : `${next} does not exist`;
        if (st.isSymbolicLink())
            return `${next} is a symlink`;
        const bad = untrustedDir(cur, st);
        if (bad)
            return bad;
        cur = next;
    }
    // What root makes in it is root's.
    return untrustedDir(cur, { uid: 0 });
}
/**
 * Why the real dir `dir` lets someone other than root change `entry` (the lstat of what the walk
 * goes on to inside it), or undefined: owned by root, writable by root alone; a sticky dir
 * writable by all (like /tmp) only protects entries that root owns.
 */
function untrustedDir(dir, entry) {
    const d = external_node_fs_default().statSync(dir);
    if (d.uid !== 0)
        return `${dir} is owned by uid ${d.uid}`;
    if ((d.mode & 0o022) === 0)
        return undefined;
    if ((d.mode & 0o1000) !== 0 && entry.uid === 0)
        return undefined;
    return `${dir} may be written by users other than root`;
}
/** Why the symlink `st` in the real dir `dir` may have been made by someone other than root, or undefined. */
function rootMadeProblem(st, dir) {
    if (st.uid !== 0)
        return `it is owned by uid ${st.uid}, not root`;
    const d = external_node_fs_default().statSync(dir);
    if (d.uid !== 0 || (d.mode & 0o022) !== 0)
        return `it is in ${dir}, which ${d.uid !== 0 ? `uid ${d.uid} owns` : 'users other than root may write to'}`;
    return undefined;
}
/**
 * The first component of `p` that is a symlink, walking from `/` with lstat; undefined when there
 * is none up to the first missing component. Checking only the last component (or resolving with
 * realpath and checking the result) misses a symlinked parent, through which a create or a
 * chown lands wherever its owner points it.
 */
function symlinkedComponent(p) {
    return walk(p, false).link;
}
/** Throws (naming `what`) when `p` passes through a symlink: the check right before a change on disk. */
function assertNoSymlink(p, what) {
    const link = symlinkedComponent(p);
    if (link)
        throw new Error(`refusing to ${what} ${p}: ${link.at} is a symlink (to ${link.target}); runbox never creates or chowns anything through a symlink`);
}
/**
 * Validates a host path input value, on disk too: no component may be a symlink (another user
 * may have planted it, and where it points can change after any check), or with
 * `rootMadeParents` (store paths) none but those root made above the path (see walk), and every
 * existing dir on the way to the real path, and that path itself, root's alone (rootOnlyProblem). Runs while parsing the inputs, so
 * nothing is created, chowned or deleted before every input path passed. Returns the path as
 * given, normalised, and where it really is.
 */
function checkHostPathOnDisk(input, p, fix, opts = {}) {
    const problem = pathProblem(p);
    if (problem)
        throw new InputError(input, problem, fix);
    const clean = normalise(p);
    const r = walk(clean, opts.rootMadeParents === true);
    if (r.link === undefined) {
        // Root's links may point anywhere, but not into what no input may name.
        const realProblem = r.real === clean ? undefined : pathProblem(r.real);
        if (realProblem)
            throw new InputError(input, `'${clean}' resolves through root's symlinks to ${realProblem.replace(/^'[^']*' /, `${r.real}, which `)}`, `${fix}. Give a path that is not a system dir`);
        // Root renames items into it and writes its DB by path: a user who may change a dir on the
        // way could swap the store dir (or the DB dir) for a link to /etc between runbox's checks and
        // those writes. Refused rather than worked around: every step would have to be fd-relative.
        const shared = opts.rootMadeParents ? rootOnlyProblem(r.real, { upToMissing: true }) : undefined;
        if (shared)
            throw new InputError(input, `'${clean}'${r.real === clean ? '' : ` (really ${r.real})`} lies in a tree another user may change: ${shared}; root restores into it by path, so that user could swap what runbox checked for a link between the check and root's write`, `${fix}. Make every dir from / down to it owned by root and writable by root alone (\`chown root\`, \`chmod go-w\`; a root-owned sticky dir like /tmp or the store dir's 1775 is fine); a single-user Nix install (/nix owned by its user) is not supported: use a multi-user (daemon) install`);
        return { clean, real: r.real };
    }
    const { link } = r;
    throw new InputError(input, `'${clean}' resolves through a symlink (${link.at} -> ${link.target}) to ${whereItLands(clean)}; ` + (link.why ?? 'runbox never creates, chowns or deletes anything through a symlink'), `${fix}. Give the real path (see \`realpath ${clean}\`), or remove ${link.at} if you did not make it` + (link.fix ? `; ${link.fix}` : ''));
}
/** Where `p` lands through every link, for a message (links root did not make included). */
function whereItLands(p) {
    let real;
    try {
        real = resolveExisting(p);
    }
    catch (e) {
        if (e.code === 'ELOOP')
            return 'a loop of symlinks';
        throw e;
    }
    const problem = pathProblem(real);
    return problem ? problem.replace(/^'[^']*' /, '') : real;
}
/** checkHostPathOnDisk's normalised path: for inputs runbox works on as given. */
function checkHostPath(input, p, fix, opts = {}) {
    return checkHostPathOnDisk(input, p, fix, opts).clean;
}
/**
 * Before a destructive operation: `target` must be a real directory (not a symlink) whose
 * resolved location is strictly inside the resolved `root`.
 */
function assertOwnedSubdir(target, root) {
    const st = external_node_fs_default().lstatSync(target);
    if (st.isSymbolicLink())
        throw new Error(`refusing to touch ${target}: it is a symlink`);
    if (!st.isDirectory())
        throw new Error(`refusing to touch ${target}: it is not a directory`);
    const realTarget = external_node_fs_default().realpathSync(target);
    const realRoot = external_node_fs_default().realpathSync(root);
    if (!isUnder(realTarget, realRoot))
        throw new Error(`refusing to touch ${target}: it resolves to ${realTarget}, outside ${realRoot}`);
}
/** A path component made from free text (refs, job names): safe, short, never empty. */
function sanitizeComponent(raw, maxLength = 60) {
    let s = raw
        .replace(/[^A-Za-z0-9._-]+/g, '-')
        .replace(/-+/g, '-')
        .replace(/^[-.]+|[-.]+$/g, '');
    if (s.length > maxLength)
        s = s.slice(0, maxLength).replace(/[-.]+$/, '');
    return s;
}

;// CONCATENATED MODULE: ./src/sys/proc-stat.ts
// /proc/<pid>/stat, read by the keeper (is the runner worker still there?), by post (has the
// keeper let go?) and by the store's markers (is the restore that left this still running?).
// No runbox or @actions imports: dist/keeper.js bundles it and stays dependency-free.

/** undefined when there is no such process (or thread `tid` of it). */
function procStat(pid, tid) {
    let text;
    try {
        text = external_node_fs_default().readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    }
    catch (e) {
        const code = e?.code;
        if (code === 'ENOENT' || code === 'ESRCH')
            return undefined;
        throw e;
    }
    // The command name (field 2) is in parentheses and may hold spaces or ')': split after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0], startTime: rest[19] };
}

;// CONCATENATED MODULE: ./src/sys/launch.ts
// The step's side of the launcher (src/launcher.ts, dist/launcher.js): a small process started
// once per step that forks a pipeline's stages for it, so that the step's own node, whose
// buffers a restore or save writes over and over, never forks while the bytes flow (why: see
// launcher.ts). Only exec.ts calls this; it has built each stage's argv (sudo included).
//
// A stage started here is a LaunchedChild: the parts of a ChildProcess that pipelines use (kill,
// exitCode/signalCode, 'error', 'exit', 'close'; stdin the pipe's write end the launcher sent,
// stdout our end of a socket pair whose other end the stage writes, stderr the tail the launcher
// kept, given at the exit). Without the launcher (not built next to the bundle, as when tests run the sources;
// or it could not start, or died), exec.ts forks the stages itself, as before.











class LaunchedChild extends external_node_events_namespaceObject.EventEmitter {
    spawnargs;
    signal;
    pid;
    stdin = null;
    stdout = null;
    stderr = new external_node_stream_.PassThrough();
    exitCode = null;
    signalCode = null;
    exited = false;
    failed = false;
    closed = false;
    /** Exited or failed: the launcher will tell nothing more of it. */
    get ended() {
        return this.exited || this.failed;
    }
    /** stdout/stderr sockets not yet closed: 'close' waits for them, as a ChildProcess's does. */
    openReads = 0;
    constructor(spawnargs, signal) {
        super();
        this.spawnargs = spawnargs;
        this.signal = signal;
    }
    /** The start time (/proc) of `pid` once started: an orphan is signalled only while it is that process. */
    startTime;
    kill(sig = 'SIGTERM') {
        if (this.ended)
            return false;
        this.signal(sig);
        return true;
    }
    /**
     * The launcher died and this child lives on without it: SIGTERM (sudo relays it to its
     * command), SIGKILL after a grace, then it ends as failed with `e` once its pid is gone or
     * another process's.
     */
    orphaned(e, graceMs = 3000) {
        if (this.ended)
            return;
        const pid = this.pid;
        // A zombie is gone for this purpose: it does nothing more, and its new parent (init, or
        // a container's PID 1 that never reaps) decides when it disappears.
        const same = () => {
            const st = pid === undefined ? undefined : procStat(pid);
            return st !== undefined && st.startTime === this.startTime && st.state !== 'Z' && st.state !== 'X';
        };
        const signal = (sig) => {
            if (!same())
                return;
            try {
                process.kill(pid, sig);
            }
            catch (err) {
                // Gone between the check and the signal: what the poll below sees next.
                if (err.code !== 'ESRCH')
                    throw err;
            }
        };
        this.signal = signal;
        signal('SIGTERM');
        const since = Date.now();
        const poll = setInterval(() => {
            // SIGKILL after the grace; a process still there long after it (in uninterruptible
            // sleep on a hung mount, say) is reported gone rather than holding the step forever.
            if (same() && Date.now() - since < 4 * graceMs) {
                if (Date.now() - since >= graceMs)
                    signal('SIGKILL');
                return;
            }
            clearInterval(poll);
            this.fail(e);
        }, 50);
    }
    /** Our end of what the stage writes (a socket pair's), or the write end of its stdin. */
    attach(which, s) {
        if (which === 'stdin') {
            this.stdin = s;
            // The write end, received as a socket, sees the stage close its stdin (or exit) as an end,
            // and would then take later writes quietly, never answering them: destroyed instead, so
            // they fail (ERR_STREAM_DESTROYED, a broken pipe to runPipeline), as a child's own stdin
            // pipe fails them with EPIPE. No 'error' unless a write is refused, as with the pipe.
            s.once('end', () => s.destroy());
        }
        else {
            this.stdout = s;
            this.openReads++;
            s.once('close', () => {
                this.openReads--;
                this.maybeClose();
            });
        }
    }
    exit(code, signal, stderr) {
        if (this.ended)
            return;
        this.exited = true;
        this.exitCode = code;
        this.signalCode = signal;
        this.stderr.end(stderr);
        this.later('exit', code, signal);
        this.maybeClose();
    }
    fail(e) {
        if (this.ended)
            return;
        this.failed = true;
        this.stdin?.destroy();
        this.stdout?.destroy();
        this.stderr.end();
        this.later('error', e);
        // As a ChildProcess that could not be spawned: 'close' still comes, for whoever waits for it.
        this.closed = true;
        this.later('close', null, null);
    }
    maybeClose() {
        if (this.closed || !this.exited || this.openReads > 0)
            return;
        this.closed = true;
        this.later('close', this.exitCode, this.signalCode);
    }
    // An 'error' or 'exit' may come before 'started', and the caller awaiting start() listens
    // only once it resumed: events are held until the start settled (arm), then each waits for a
    // turn of the loop, as a ChildProcess's own do after spawn() returned.
    armed = false;
    held = [];
    later(event, ...args) {
        if (this.armed)
            setImmediate(() => this.emit(event, ...args));
        else
            this.held.push([event, args]);
    }
    /** The start settled (started, refused or lost): events flow from now on. */
    arm() {
        if (this.armed)
            return;
        this.armed = true;
        for (const [event, args] of this.held)
            setImmediate(() => this.emit(event, ...args));
        this.held = [];
    }
}
class Launcher {
    proc;
    next = 0;
    pending = new Map();
    /** Stages not yet exited or failed, by pipeline id: while any is, the channel keeps node alive. */
    live = new Map();
    gone;
    constructor(proc) {
        this.proc = proc;
        // Node waits for each fd sent to be acknowledged, with a listener per fd in flight: a save
        // starts a pipeline per frame at once.
        proc.setMaxListeners(0);
        proc.on('message', (m, handle) => this.onMessage(m, handle));
        proc.once('exit', (code, signal) => this.lost(new Error(`runbox's launcher exited (${signal ?? `exit ${code}`})`)));
        // The channel closing is the end too: an 'exit' may never be delivered once nothing refs it.
        proc.once('disconnect', () => this.lost(new Error("runbox's launcher closed its channel")));
        proc.once('error', (e) => this.lost(e));
        this.idle();
    }
    /** Closes the channel and waits (at most `ms`) for the launcher to exit. */
    async close(ms) {
        if (this.proc.exitCode !== null || this.proc.signalCode !== null)
            return;
        const exited = new Promise((resolve) => this.proc.once('exit', () => resolve()));
        // Waited for: the process (unref'd while it served) keeps node alive until it exits.
        this.proc.ref();
        if (this.proc.connected)
            this.proc.disconnect();
        let timer;
        await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
        clearTimeout(timer);
        this.proc.unref();
    }
    get usable() {
        return this.gone === undefined && this.proc.connected;
    }
    /**
     * Starts the stages. `stdout` 'pipe': read from the last one's stdout (a socket pair made here,
     * in os.tmpdir()); a socket: the end of a pair of the caller's that the last stage writes.
     * Resolves with undefined, starting nothing, when that pair cannot be made (a TMPDIR too long
     * for a socket's path, or one others may write to, as root): the caller forks the stages itself.
     */
    async start(stages, stdin, stdout, opts) {
        let pair;
        if (stdout === 'pipe') {
            try {
                pair = await unixSocketPair(external_node_os_default().tmpdir());
            }
            catch (e) {
                core_debug(`launcher: no socket pair for the output (${e instanceof Error ? e.message : String(e)}); forking directly`);
                return undefined;
            }
        }
        const theirs = pair ? pair.theirs : stdout === 'pipe' ? 'ignore' : stdout;
        const id = ++this.next;
        const children = stages.map((argv, i) => new LaunchedChild([...argv], (signal) => this.proc.connected && this.proc.send({ t: 'kill', id, stage: i, signal })));
        try {
            opts.created(children);
        }
        catch (e) {
            // Refused before anything started (the step began stopping): nothing to undo but the pair.
            pair?.ours.destroy();
            pair?.theirs.destroy();
            throw e;
        }
        if (pair)
            children[children.length - 1].attach('stdout', pair.ours);
        this.live.set(id, children);
        this.busy();
        const message = { t: 'start', id, stages, env: opts.env, cwd: opts.cwd ?? process.cwd(), stdin, stdout: theirs === 'ignore' ? 'ignore' : 'handle', stderrTail: opts.stderrTail };
        return new Promise((resolve, reject) => {
            this.pending.set(id, {
                children,
                started: (pids) => {
                    pids.forEach((pid, i) => {
                        children[i].pid = pid ?? undefined;
                        // Read now, while the launcher still waits for it: the pid is its child's.
                        if (pid !== null)
                            children[i].startTime = procStat(pid)?.startTime;
                    });
                    resolve(children);
                    for (const c of children)
                        c.arm();
                },
                refused: reject
            });
            const sent = (e) => {
                if (!e)
                    return;
                this.pending.delete(id);
                this.live.delete(id);
                if (this.live.size === 0)
                    this.idle();
                pair?.ours.destroy();
                // Tracked already: they end here, for whoever waits on them.
                for (const c of children) {
                    c.fail(e);
                    c.arm();
                }
                reject(e);
            };
            // Sent with the handle, the socket is the launcher's: node closes ours once it is on its way.
            if (theirs === 'ignore')
                this.proc.send(message, sent);
            else
                this.proc.send(message, theirs, sent);
        });
    }
    onMessage(m, handle) {
        if (m.t === 'ready')
            return;
        const children = this.pending.get(m.id)?.children ?? this.live.get(m.id);
        if (m.t === 'stdin') {
            if (handle && children)
                children[0].attach('stdin', handle);
            else
                handle?.destroy();
        }
        else if (m.t === 'started') {
            const p = this.pending.get(m.id);
            this.pending.delete(m.id);
            p?.started(m.pids);
        }
        else if (m.t === 'error') {
            const c = children?.[m.stage];
            c?.fail(Object.assign(new Error(m.error.message), m.error));
            this.settle(m.id);
        }
        else if (m.t === 'exit') {
            children?.[m.stage].exit(m.code, m.signal, m.stderr);
            this.settle(m.id);
        }
    }
    /** Drops a pipeline once every stage of it exited or failed. */
    settle(id) {
        const children = this.live.get(id);
        if (children?.every((c) => c.ended)) {
            this.live.delete(id);
            if (this.live.size === 0)
                this.idle();
        }
    }
    lost(e) {
        if (this.gone)
            return;
        this.gone = e;
        for (const [id, p] of this.pending) {
            this.live.delete(id);
            for (const c of p.children) {
                c.fail(e);
                c.arm();
            }
            p.refused(e);
        }
        this.pending.clear();
        // Its children go on without it (an rm, a tar): each is stopped here, by pid, and counts as
        // running until it is gone, so a cancel's stopChildren still waits for it.
        for (const children of this.live.values())
            for (const c of children)
                c.orphaned(e);
        this.live.clear();
        this.idle();
    }
    // The channel keeps node's event loop alive only while a stage runs: the step must be able to
    // exit with the launcher still there (it exits once the channel closes).
    busy() {
        this.proc.channel?.ref();
    }
    idle() {
        this.proc.channel?.unref();
    }
}
/** How long a launcher may take to say it is ready (a node start: well under a second). */
const READY_TIMEOUT_MS = 10_000;
let launcher;
/** The launcher once it is ready, for callers that use it only when it is already there. */
let ready;
/** The step's launcher if it has been started and is ready: run() forks itself otherwise. */
function launcherIfReady() {
    return ready?.usable ? ready : undefined;
}
/**
 * The launcher script: RUNBOX_LAUNCHER when set (a path, or `off` for none: tests), otherwise
 * launcher.js next to the running bundle, when it exists.
 */
function launcherScript() {
    const given = process.env.RUNBOX_LAUNCHER;
    if (given === 'off')
        return undefined;
    if (given)
        return given;
    const beside = external_node_path_default().join(external_node_path_default().dirname((0,external_node_url_.fileURLToPath)(import.meta.url)), 'launcher.js');
    return external_node_fs_default().existsSync(beside) ? beside : undefined;
}
/**
 * The step's launcher, started on first use; undefined when there is none (exec.ts forks itself),
 * also for the rest of the step once it died.
 */
async function theLauncher() {
    launcher ??= startLauncher();
    const l = await launcher;
    if (l && !l.usable) {
        launcher = Promise.resolve(undefined);
        return undefined;
    }
    return l;
}
/**
 * Starts the launcher now, without waiting for it, so that the commands a store step runs before
 * its first pipeline go through it too (run() uses it once it is ready).
 */
function prepareLauncher() {
    void theLauncher();
}
/**
 * Ends the step's launcher, if one was started, and waits for it: the step then leaves no process
 * behind, and the CPU of the pipelines it started counts as the step's (it is reaped by the step).
 * A pipeline after this starts a new one.
 */
async function stopLauncher() {
    const l = await launcher;
    launcher = undefined;
    ready = undefined;
    await l?.close(2000);
}
async function startLauncher() {
    const script = launcherScript();
    if (!script)
        return undefined;
    let proc;
    try {
        proc = (0,external_node_child_process_namespaceObject.spawn)(process.execPath, [script], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], serialization: 'json' });
    }
    catch (e) {
        // The host refused a process now (EAGAIN, say): the stages are forked by the step itself.
        process.stderr.write(`runbox: the launcher could not be started (${e instanceof Error ? e.message : String(e)}); starting processes directly\n`);
        return undefined;
    }
    // Referenced until it is ready: node must not end (exit 13, an unsettled await) while the
    // step waits for a launcher that died before saying so.
    const started = await new Promise((resolve) => {
        const timer = setTimeout(() => {
            core_debug(`launcher: not ready after ${READY_TIMEOUT_MS} ms; forking directly`);
            proc.kill('SIGKILL');
            resolve(false);
        }, READY_TIMEOUT_MS);
        const settle = (ok) => {
            clearTimeout(timer);
            resolve(ok);
        };
        proc.once('message', () => settle(true));
        proc.once('error', () => settle(false));
        proc.once('exit', () => settle(false));
        proc.once('disconnect', () => settle(false));
    });
    proc.unref();
    if (!started)
        return undefined;
    ready = new Launcher(proc);
    return ready;
}
/** The longest path a unix socket can be bound at (Linux: sun_path's 108 bytes, NUL included). */
const MAX_SOCKET_PATH = 107;
/**
 * A connected pair of unix stream sockets: `theirs` to give a child as its stdout, `ours` to read
 * (with `onread`, into the caller's buffer; node makes a child's own stdout pipe without it). Made
 * by a listen and a connect on a socket in a fresh 0700 dir (mkdtemp) under `home`, removed at
 * once: only this uid and root can connect, and those can read this process's memory anyway.
 */
async function unixSocketPair(home, onread) {
    // As root, not in a TMPDIR another user may write to: they could rename the fresh dir away and
    // put a link in its place, and root would bind the socket wherever it points.
    const problem = process.getuid?.() === 0 ? rootOnlyProblem(home) : undefined;
    if (problem)
        throw new Error(`the socket would be made in ${home}, and ${problem}`);
    const dir = external_node_fs_default().mkdtempSync(external_node_path_default().join(home, 'runbox-out-'));
    const server = external_node_net_default().createServer();
    try {
        const where = external_node_path_default().join(dir, 's');
        // Longer than sun_path holds, libuv would cut the path short and bind the socket there,
        // outside the private dir (in TMPDIR's parent, say): refused.
        if (Buffer.byteLength(where) > MAX_SOCKET_PATH)
            throw new Error(`${where} is longer than the ${MAX_SOCKET_PATH} bytes a unix socket's path can be`);
        await new Promise((resolve, reject) => {
            server.once('error', reject);
            server.listen(where, resolve);
        });
        const accepted = new Promise((resolve) => server.once('connection', resolve));
        const ours = external_node_net_default().connect({ path: where, ...(onread ? { onread } : {}) });
        await new Promise((resolve, reject) => {
            ours.once('connect', resolve);
            ours.once('error', reject);
        });
        return { ours, theirs: await accepted };
    }
    finally {
        server.close();
        external_node_fs_default().rmSync(dir, { recursive: true, force: true });
    }
}

;// CONCATENATED MODULE: ./src/sys/exec.ts
// The one door to the host's processes: every child runbox starts goes through startProcess(),
// so "root or `sudo -n`" is decided in a single place (commandLine) and `privileged: true` is the
// only way to ask for root. run() is the common case (buffered output, exit code checked);
// runElseRoot() is "as the runner user, else as root"; the store's pipelines and the lock
// helpers (extra fds, a detached keeper) use startProcess() directly.




/**
 * What run() keeps of a child's output. A command reading untrusted data (a DB row, a listing)
 * could otherwise print without bound, and one huge string crashes node mid-restore (with the
 * daemon stopped). stdout is the result, so past the bound the command fails; stderr is only
 * for messages, so its tail is kept.
 */
const MAX_STDOUT = 16 * 1024 * 1024;
const MAX_STDERR_TAIL = 1024 * 1024;
/** Control characters shown as \\xNN: an error message is logged, and must stay one harmless line. */
function singleLine(s) {
    return s.replace(/[\u0000-\u001f\u007f\u0085\u2028\u2029]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
class CommandError extends Error {
    command;
    result;
    constructor(command, result) {
        // stderr may quote data the command read (member names, DB rows) and this message reaches the
        // log: one line, each quoted line cut, so it cannot start a workflow command there.
        const detail = result.stderr
            .trim()
            .split('\n')
            .slice(-5)
            .map((l) => (l.length > 300 ? `${l.slice(0, 300)}...` : l))
            .join(' | ');
        super(singleLine(`\`${command}\` exited with ${result.code}${detail ? `: ${detail}` : ''}`));
        this.command = command;
        this.result = result;
        this.name = 'CommandError';
    }
}
/** A command printed more than run() keeps: it was killed, and its output is not used. */
class OutputLimitError extends Error {
    command;
    limit;
    constructor(command, limit) {
        super(singleLine(`\`${command.length > 300 ? `${command.slice(0, 300)}...` : command}\` printed more than ${limit} bytes on stdout, more than runbox reads from a command; it was stopped`));
        this.command = command;
        this.limit = limit;
        this.name = 'OutputLimitError';
    }
}
function isRoot() {
    return process.getuid?.() === 0;
}
/** argv as it will really run, with `sudo -n` in front when privileges must be borrowed. */
function commandLine(cmd, args, privileged = false) {
    return privileged && !isRoot() ? ['sudo', '-n', '--', cmd, ...args] : [cmd, ...args];
}
/**
 * Starts `cmd`; the caller owns the child (its events, its pipes, its end). Throws only what
 * spawn throws synchronously; a command that cannot be run arrives as the child's 'error'.
 */
function startProcess(cmd, args, opts = {}) {
    const argv = commandLine(cmd, args, opts.privileged);
    // run()'s rule for every start: once the step is stopping, nothing new starts outside a
    // cleanup. The step's code runs on while the cancel's cleanups do; without this, a cancelled
    // main went on to take its locks with flock and hand them to a keeper that outlived it.
    if (isStopping())
        throw new StoppingError(quote(argv));
    const child = forkChild(argv, {
        ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
        env: opts.env ?? process.env,
        stdio: [...(opts.stdio ?? ['pipe', 'pipe', 'pipe']), ...(opts.extraFds ?? [])],
        detached: opts.detached ?? false
    });
    return { child, shown: quote(argv) };
}
/**
 * The one fork of this module (startProcess, and startStages without a launcher): `argv` as
 * commandLine built it. A detached child (the keeper) is meant to outlive the step; every other
 * one is tracked, to end with it.
 */
function forkChild(argv, opts) {
    const child = (0,external_node_child_process_namespaceObject.spawn)(argv[0], argv.slice(1), opts);
    if (!opts.detached)
        trackChild(child);
    return child;
}
/** What a pipeline keeps of each stage's stderr (the end, for its error message). */
const PIPELINE_STDERR_TAIL = 16 * 1024;
/**
 * Starts stages[0] | stages[1] | ...: adjacent stages joined by an OS pipe (no copy through
 * node), the first one's stdin and the last one's stdout as given, every stage's stderr piped to
 * us. The caller owns the children (their events, pipes and ends), as with startProcess().
 * Through the step's launcher when there is one (sys/launch.ts: node then never forks while a
 * pipeline's bytes flow, which on a VM costs it more than the pipeline), otherwise forked here.
 */
async function startStages(stages, stdin, stdout) {
    const argvs = stages.map((s) => commandLine(s.cmd, s.args, s.privileged));
    const shown = argvs.map(quote);
    const refuse = () => new StoppingError(shown.join(' | '));
    if (isStopping())
        throw refuse();
    const launcher = await theLauncher();
    if (isStopping())
        throw refuse();
    const launched = await launcher?.start(argvs, stdin, stdout, { env: process.env, stderrTail: PIPELINE_STDERR_TAIL, created: trackUnlessStopping(refuse) });
    if (launched) {
        // A cancel that came while the launcher started them: stopped here too (stopChildren may
        // have run before they were tracked); nothing of this pipeline goes on.
        if (isStopping())
            throw stopLaunched(launched, refuse());
        return { children: launched, shown };
    }
    const children = [];
    argvs.forEach((argv, i) => {
        const first = i === 0;
        const last = i === argvs.length - 1;
        const child = forkChild(argv, {
            env: process.env,
            stdio: [first ? stdin : children[i - 1].stdout, last ? stdout : 'pipe', 'pipe']
        });
        // The child got its own copy of the previous stage's read end; dropping ours lets the
        // previous stage see EPIPE when this one exits early, instead of blocking forever. The
        // same for a socket of ours the last stage writes.
        if (!first)
            children[i - 1].stdout?.destroy();
        if (last && typeof stdout !== 'string')
            stdout.destroy();
        children.push(child);
    });
    return { children, shown };
}
function quote(argv) {
    return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
// --- children end with their step --------------------------------------------------------------
//
// A cancelled step gets SIGINT/SIGTERM and exits from its handler. A child it started (rm, du,
// chown, sudo and the command under it) would otherwise go on as an orphan, and an rm that goes
// on after the step's locks died deletes what the next run has just started using. So every child
// is tracked until it closes, stopChildren() ends them all before the step exits, and from then
// on run() starts nothing new except inside a cleanup (a store daemon restarted, say).
//
// Children stay in the step's process group (not detached): a runner that kills the job's
// group kills them with it. They are signalled one by one instead; sudo relays SIGTERM to its
// command (a SIGKILLed sudo would leave the command running, so SIGKILL comes only after a grace).
const children = new Set();
let stopping = false;
const cleanupScope = new external_node_async_hooks_namespaceObject.AsyncLocalStorage();
/** Thrown by run() once the step is stopping: nothing new is started outside a cleanup. */
class StoppingError extends Error {
    command;
    constructor(command) {
        super(singleLine(`not starting \`${command.length > 300 ? `${command.slice(0, 300)}...` : command}\`: the step is being cancelled`));
        this.command = command;
        this.name = 'StoppingError';
    }
}
/** True once stopChildren() ran: work in flight is ending, nothing new may start. */
function isStopping() {
    return stopping && !cleanupScope.getStore();
}
/** Tracks a child started outside run() (a flock, a pipeline stage) so stopChildren() ends it too. */
function trackChild(child) {
    if (child.exitCode !== null || child.signalCode !== null)
        return;
    children.add(child);
    child.once('close', () => children.delete(child));
    child.once('error', () => children.delete(child));
}
/** Runs `fn` as a cleanup: its commands may start after stopChildren(). */
function asCleanup(fn) {
    return cleanupScope.run(true, fn);
}
/**
 * SIGTERM to every child still running, SIGKILL to those still there after `graceMs`; resolves
 * once all have closed. From now on run() refuses new commands outside asCleanup().
 */
async function stopChildren(graceMs = 3000) {
    stopping = true;
    const running = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
    if (running.length === 0)
        return;
    info(`runbox: stopping ${running.length} child process(es): ${running.map((c) => `${c.pid} (${c.spawnargs.slice(0, 4).join(' ')})`).join(', ')}`);
    const closed = running.map((c) => new Promise((resolve) => (children.has(c) ? c.once('close', () => resolve()) : resolve())));
    for (const c of running)
        c.kill('SIGTERM');
    const timer = setTimeout(() => {
        for (const c of running)
            if (c.exitCode === null && c.signalCode === null)
                c.kill('SIGKILL');
    }, graceMs);
    await Promise.all(closed);
    clearTimeout(timer);
}
async function run(cmd, args, opts = {}) {
    if (isStopping())
        throw new StoppingError(quote(commandLine(cmd, args, opts.privileged)));
    const { child, shown } = await startForRun(cmd, args, opts);
    core_debug(`exec: ${shown}`);
    const maxStdout = opts.maxStdout ?? MAX_STDOUT;
    let overflow = false;
    const result = await new Promise((resolve, reject) => {
        const out = [];
        let outBytes = 0;
        const err = [];
        let errBytes = 0;
        child.stdout?.on('data', (b) => {
            if (overflow)
                return;
            outBytes += b.length;
            if (outBytes <= maxStdout) {
                out.push(b);
                return;
            }
            overflow = true;
            out.length = 0;
            // SIGTERM, not SIGKILL: sudo relays it to the command, and a SIGKILLed sudo would leave the
            // command running. Closing the pipe too, so a command that ignores SIGTERM gets EPIPE.
            child.kill('SIGTERM');
            child.stdout?.destroy();
            setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'), 5000).unref();
        });
        child.stderr?.on('data', (b) => {
            err.push(b);
            errBytes += b.length;
            while (errBytes - err[0].length >= MAX_STDERR_TAIL)
                errBytes -= err.shift().length;
        });
        child.on('error', reject);
        child.on('close', (code, signal) => {
            const errText = Buffer.concat(err);
            resolve({
                code: code ?? (signal ? 128 : 1),
                stdout: Buffer.concat(out).toString(),
                stderr: (errText.length > MAX_STDERR_TAIL ? errText.subarray(errText.length - MAX_STDERR_TAIL) : errText).toString() + (signal ? `\nkilled by ${signal}` : ''),
                ...(signal ? { signal } : {})
            });
        });
        child.stdin?.on('error', () => undefined); // the child may exit before reading all input; its exit code tells
        child.stdin?.end(opts.input ?? '');
    });
    if (overflow)
        throw new OutputLimitError(shown, maxStdout);
    if (result.code !== 0 && !opts.allowFailure)
        throw new CommandError(shown, result);
    return result;
}
/**
 * run()'s child: through the step's launcher when it is already running (a store step starts it
 * early: see sys/launch.ts for why node forking itself costs it so much on a VM) and no lock fd
 * must be inherited (fds other than sockets cannot be handed to it); forked here otherwise.
 */
async function startForRun(cmd, args, opts) {
    const launcher = opts.holdFds ? undefined : launcherIfReady();
    if (!launcher) {
        // RunOptions has no stdio or detached: all three pipes, our session; held lock fds are its fds 3...
        return startProcess(cmd, args, { ...opts, ...(opts.holdFds ? { extraFds: opts.holdFds } : {}) });
    }
    const argv = commandLine(cmd, args, opts.privileged);
    const shown = quote(argv);
    const launched = await launcher.start([argv], 'pipe', 'pipe', {
        env: opts.env ?? process.env,
        cwd: opts.cwd,
        stderrTail: MAX_STDERR_TAIL,
        created: trackUnlessStopping(() => new StoppingError(shown))
    });
    if (!launched)
        return startProcess(cmd, args, opts);
    if (isStopping())
        throw stopLaunched(launched, new StoppingError(shown));
    return { child: launched[0], shown };
}
/**
 * The launcher's `created`: run()'s rule (nothing new once the step is stopping) checked at the
 * last moment before the start, then the children tracked for stopChildren().
 */
function trackUnlessStopping(refuse) {
    return (children) => {
        if (isStopping())
            throw refuse();
        children.forEach(trackChild);
    };
}
/** Ends children the launcher started for a step that began stopping meanwhile; returns `e`. */
function stopLaunched(children, e) {
    for (const c of children) {
        c.kill('SIGTERM');
        c.stdin?.destroy();
        c.stdout?.destroy();
    }
    return e;
}
let sudoChecked;
/**
 * Fails early, with a message a fleet maintainer can act on, when privileged work is needed
 * but the runner user has no passwordless sudo.
 */
function ensurePrivilege(why) {
    if (isRoot())
        return Promise.resolve();
    sudoChecked ??= run('sudo', ['-n', 'true'], { allowFailure: true }).then((r) => {
        if (r.code !== 0)
            throw new Error(`runbox needs root rights to ${why}, but \`sudo -n true\` failed (${r.stderr.trim() || `exit ${r.code}`}). ` + 'Give the runner user passwordless sudo, or run the runner as root.');
    }, (e) => {
        throw new Error(`runbox needs root rights to ${why}, but sudo could not be started: ${e.message}`);
    });
    return sudoChecked;
}
/**
 * "As the runner user, else as root": runs `cmd` with the runner user's rights and, when that
 * fails, once more with root's, after ensurePrivilege(why) so a runner without passwordless sudo
 * gets the message that says what to fix. `tryRunnerFirst: false` skips the first attempt when
 * the caller already knows it cannot succeed (handing files to another user). As root there is
 * one attempt, and its failure is thrown. `escalated` says whether root's attempt was needed.
 */
async function runElseRoot(cmd, args, why, opts = {}) {
    const { tryRunnerFirst = true, ...runOpts } = opts;
    if (isRoot())
        return { ...(await run(cmd, args, runOpts)), escalated: false };
    if (tryRunnerFirst) {
        const r = await run(cmd, args, { ...runOpts, allowFailure: true });
        if (r.code === 0)
            return { ...r, escalated: false };
    }
    await ensurePrivilege(why);
    return { ...(await run(cmd, args, { ...runOpts, privileged: true })), escalated: true };
}

;// CONCATENATED MODULE: ./src/common/duration.ts
// One syntax wherever an input asks for time (`lock-timeout`, `reap-after`, `pr-reap-after`):
// a user who wrote `30m` for one should not see it refused by another.

const UNIT_SEC = { s: 1, m: 60, h: 3600, d: 86400 };
/** Longer than a year is a typo (e.g. seconds meant as minutes), not a retention policy. */
const MAX_DURATION_SEC = 365 * 86400;
function limitText(sec) {
    for (const [u, n] of [
        ['d', 86400],
        ['h', 3600],
        ['m', 60]
    ])
        if (sec % n === 0)
            return `${sec / n}${u}`;
    return `${sec}s`;
}
/** Parses `90s`, `30m`, `1h`, `2d` or plain seconds (`3600`) into seconds. */
function parseDuration(input, raw, limits = {}) {
    const max = limits.maxSec ?? MAX_DURATION_SEC;
    const fix = `Write a ${limits.allowZero ? '' : 'positive '}whole number with a unit: s, m, h or d (e.g. '90s', '30m', '1h', '2d'), or plain seconds (e.g. '3600'), at most ${limitText(max)}${limits.allowZero ? ` ('0' fails at once)` : ''}`;
    const m = /^(\d+)\s*([smhd]?)$/i.exec(raw);
    if (!m)
        throw new InputError(input, `'${raw}' is not a duration`, fix);
    const sec = Number(m[1]) * UNIT_SEC[(m[2] || 's').toLowerCase()];
    if (sec === 0 && !limits.allowZero)
        throw new InputError(input, `'${raw}' is zero`, fix);
    if (!Number.isSafeInteger(sec) || sec > max)
        throw new InputError(input, `'${raw}' is longer than ${limitText(max)}`, fix);
    return sec;
}

;// CONCATENATED MODULE: ./src/action/input-source.ts
// Every input is read through an InputSource, once, in one place per capability, so parsing
// and validation can be tested without an Actions runtime.


/** The variable the runner passes an input in: spaces become `_`, then upper case. */
function inputEnvName(name) {
    return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;
}
function splitLines(raw) {
    return (raw
        .split(/\r?\n/)
        // A '#' after whitespace starts a comment, as in YAML: inside a `|` block YAML itself keeps
        // a trailing `# ...` as part of the value, and writing one there is the natural thing to do.
        .map((l) => l.replace(/(^|\s)#.*$/, '').trim())
        .filter((l) => l !== '' && !l.startsWith('#')));
}
const actionInputs = {
    value: (name) => getInput(name).trim(),
    lines: (name) => splitLines(getInput(name)),
    given: (name) => process.env[inputEnvName(name)] !== undefined
};
function inputsFrom(values) {
    return {
        value: (name) => (values[name] ?? '').trim(),
        lines: (name) => splitLines(values[name] ?? ''),
        given: (name) => name in values
    };
}
function parseBoolean(src, name, fallback) {
    const v = src.value(name).toLowerCase();
    if (v === '')
        return fallback;
    if (v === 'true')
        return true;
    if (v === 'false')
        return false;
    throw new InputError(name, `'${src.value(name)}' is not a boolean`, "Write 'true' or 'false'");
}

;// CONCATENATED MODULE: ./src/action/job-context.ts
// The facts about this job that the runner provides as environment variables. A missing one
// is an error, never a default: an unset run id once collapsed every run onto one shared dir.

function required(env, name, shape) {
    const v = (env[name] ?? '').trim();
    if (v === '')
        throw new Error(`${name} is not set: runbox runs inside a GitHub Actions job, where the runner sets it`);
    if (shape && !shape.test(v))
        throw new Error(`${name} is '${v}', which is not what the runner sets (${String(shape)})`);
    return v;
}
/**
 * RUNNER_TEMP, the runner's per-job scratch dir (wiped between jobs), or undefined when unset.
 * The one read of it: main requires it (jobContext), while the input parsers that default to it
 * run before the job context and decide themselves what its absence means (base-dir's default
 * fails with an input error, the store's staging falls back to the OS temp dir for post, which
 * parses the store config without a job context).
 */
function runnerTemp(env = process.env) {
    return (env.RUNNER_TEMP ?? '').trim() || undefined;
}
function pullRequestNumber(env) {
    const fromRef = /^refs\/pull\/(\d+)\//.exec(env.GITHUB_REF ?? '');
    if (fromRef)
        return fromRef[1];
    const eventPath = env.GITHUB_EVENT_PATH;
    if (!eventPath || !external_node_fs_default().existsSync(eventPath))
        return undefined;
    const event = JSON.parse(external_node_fs_default().readFileSync(eventPath, 'utf8'));
    const n = event.pull_request?.number ?? event.number;
    return n === undefined ? undefined : String(n);
}
/**
 * The repository's default branch, from the event payload the runner writes (every event that
 * names a repository carries it); undefined when there is no payload or it names none.
 */
function defaultBranch(env = process.env) {
    const eventPath = env.GITHUB_EVENT_PATH;
    if (!eventPath || !external_node_fs_default().existsSync(eventPath))
        return undefined;
    const event = JSON.parse(external_node_fs_default().readFileSync(eventPath, 'utf8'));
    const name = event.repository?.default_branch;
    return typeof name === 'string' && name !== '' ? name : undefined;
}
function jobContext(env = process.env) {
    const event = env.GITHUB_EVENT_NAME ?? '';
    const pr = event.startsWith('pull_request') ? pullRequestNumber(env) : undefined;
    let ref;
    if (pr)
        ref = `pr-${pr}`;
    else {
        const name = (env.GITHUB_REF_NAME ?? '').trim() || required(env, 'GITHUB_REF').replace(/^refs\/(heads|tags)\//, '');
        ref = name;
    }
    return {
        runId: required(env, 'GITHUB_RUN_ID', /^\d+$/),
        runAttempt: required(env, 'GITHUB_RUN_ATTEMPT', /^\d+$/),
        job: required(env, 'GITHUB_JOB'),
        runnerName: required(env, 'RUNNER_NAME'),
        ref,
        runnerTemp: runnerTemp(env) ?? required(env, 'RUNNER_TEMP'),
        workspace: (env.GITHUB_WORKSPACE ?? '').trim()
    };
}

;// CONCATENATED MODULE: ./src/dirs/layout.ts
// Where each dir lives. Run dirs are unique per run, attempt, job, runner and `id`, so matrix
// legs and re-runs never share one; `pr` dirs are shared by the successive runs of one ref.


const RUN_DIR_PREFIX = 'run-';
/** A dir's lock file is its sibling `<dir>.lock` (liveness.ts lockPathOf). */
const LOCK_SUFFIX = '.lock';
function mustSanitize(what, raw) {
    const s = sanitizeComponent(raw);
    if (s === '')
        throw new Error(`${what} '${raw}' has no characters usable in a directory name`);
    return s;
}
function computeLayout(baseDir, ctx, id) {
    const refKey = mustSanitize('the ref', ctx.ref);
    const idKey = id === '' ? '' : mustSanitize('input id', id);
    const jobKey = [mustSanitize('GITHUB_JOB', ctx.job), mustSanitize('RUNNER_NAME', ctx.runnerName), idKey].filter(Boolean).join('-');
    const refDir = external_node_path_default().join(baseDir, refKey);
    return {
        baseDir,
        refDir,
        runDir: external_node_path_default().join(refDir, `${RUN_DIR_PREFIX}${ctx.runId}-${ctx.runAttempt}-${jobKey}`),
        prDir: idKey ? external_node_path_default().join(baseDir, `${refKey}-${idKey}`) : refDir
    };
}
function dirPath(layout, spec) {
    return external_node_path_default().join(spec.scope === 'run' ? layout.runDir : layout.prDir, spec.name);
}

;// CONCATENATED MODULE: ./src/dirs/dirs-config.ts
// The foundation inputs, parsed and validated before anything on disk is touched.







const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const ENV_VAR = /^[A-Z_][A-Z0-9_]*$/;
// Variables a later step must never have silently replaced by a dir path.
const RESERVED_ENV = /^(PATH|HOME|SHELL|USER|PWD|LD_[A-Z_]+|GITHUB_[A-Z_]+|RUNNER_[A-Z_]+|ACTIONS_[A-Z_]+)$/;
function parseDirLine(line) {
    const fix = "Write one dir per line as NAME, NAME:pr or NAME=ENV_VAR (e.g. 'target:run=CARGO_TARGET_DIR')";
    const m = /^([^:=\s]+)(?::([^=\s]*))?(?:=(\S*))?$/.exec(line);
    if (!m)
        throw new InputError('dirs', `line '${line}' is not NAME[:scope][=ENV_VAR]`, fix);
    const [, name, scope = 'run', envVar] = m;
    if (!NAME.test(name) || name.startsWith(RUN_DIR_PREFIX) || name.endsWith('.lock'))
        throw new InputError('dirs', `'${name}' is not a dir name`, `A name is letters, digits, '.', '_' and '-', starts with a letter or digit, contains no '/', and does not start with '${RUN_DIR_PREFIX}' or end in '.lock'`);
    if (scope !== 'run' && scope !== 'pr')
        throw new InputError('dirs', `scope '${scope}' of '${name}' is unknown`, "Use ':run' (the default) or ':pr'");
    if (envVar !== undefined && !ENV_VAR.test(envVar))
        throw new InputError('dirs', `'${envVar}' (for '${name}') is not an environment variable name`, 'Use upper-case letters, digits and _, not starting with a digit, e.g. CARGO_TARGET_DIR');
    if (envVar !== undefined && RESERVED_ENV.test(envVar))
        throw new InputError('dirs', `'${envVar}' (for '${name}') is reserved by the runner or the shell`, 'Choose a variable of your own, e.g. CARGO_TARGET_DIR');
    return envVar === undefined ? { name, scope } : { name, scope, envVar };
}
function parseDirs(src) {
    const specs = src.lines('dirs').map(parseDirLine);
    const seen = new Set();
    const seenEnv = new Set();
    for (const s of specs) {
        if (seen.has(s.name))
            throw new InputError('dirs', `'${s.name}' is listed twice`, 'Give each dir a distinct name');
        if (s.envVar && seenEnv.has(s.envVar))
            throw new InputError('dirs', `'${s.envVar}' is exported by two dirs`, 'Give each dir its own variable');
        seen.add(s.name);
        if (s.envVar)
            seenEnv.add(s.envVar);
    }
    return specs;
}
function parsePathList(src, name) {
    const fix = `List absolute host paths, one per line, outside system directories (e.g. '/srv/ci/cargo-home')`;
    const out = src.lines(name).map((p) => checkHostPath(name, p, fix));
    const dup = out.find((p, i) => out.indexOf(p) !== i);
    if (dup)
        throw new InputError(name, `'${dup}' is listed twice`, 'List each path once');
    return out;
}
const MAX_LOCK_TIMEOUT_SEC = 6 * 3600; // a job's own maximum runtime on GitHub-hosted runners
function parseLockTimeout(src) {
    const raw = src.value('lock-timeout');
    if (raw === '')
        return 1800;
    return parseDuration('lock-timeout', raw, { allowZero: true, maxSec: MAX_LOCK_TIMEOUT_SEC });
}
/**
 * Longer than Docker's own stop grace (10 s) plus the runner's cancel sequence (SIGINT, 7.5 s,
 * SIGTERM, 2.5 s): a container that is merely shutting down has ended by then. Only a job that
 * leaves something running pays it, and the next run of the PR waits at most this long for it.
 */
const DEFAULT_RELEASE_TIMEOUT_SEC = 30;
const MAX_RELEASE_TIMEOUT_SEC = 3600;
function parseReleaseTimeout(src) {
    const raw = src.value('release-timeout');
    if (raw === '')
        return DEFAULT_RELEASE_TIMEOUT_SEC;
    return parseDuration('release-timeout', raw, { allowZero: true, maxSec: MAX_RELEASE_TIMEOUT_SEC });
}
/**
 * `kill` by default: when post runs the job is over, so whatever still uses its dirs is a leftover
 * the runner failed to stop (it kills a cancelled step's processes, not the step's containers);
 * `wait` would let one stuck container lock a PR's dirs for every later run.
 */
function parseLeftovers(src) {
    const raw = src.value('leftovers');
    if (raw === '')
        return 'kill';
    if (raw === 'kill' || raw === 'wait')
        return raw;
    throw new InputError('leftovers', `'${raw}' is not 'kill' or 'wait'`, "Write 'kill' (stop what still uses the dirs after release-timeout) or 'wait' (keep the dirs locked until it ends)");
}
function parseFoundationConfig(src, env = process.env) {
    // action.yml declares the default, so the runner passes it when the workflow leaves base-dir
    // out; an empty value was written as an expression that expanded to nothing. Falling back to
    // RUNNER_TEMP then would silently give up what a shared base-dir is for (warm pr dirs, one
    // janitor for the host), so it fails instead.
    if (src.value('base-dir') === '' && src.given?.('base-dir'))
        throw new InputError('base-dir', 'it is empty: the workflow passes it, but its value expanded to nothing (e.g. `${{ env.X }}` or `${{ vars.X }}` with X unset)', "Define that variable, write the path itself (e.g. '/srv/runbox'), or leave base-dir out to use $RUNNER_TEMP/runbox, which the runner wipes between jobs");
    const temp = runnerTemp(env);
    const rawBase = src.value('base-dir') || (temp !== undefined ? external_node_path_default().join(temp, 'runbox') : '');
    if (rawBase === '')
        throw new InputError('base-dir', 'it is empty and RUNNER_TEMP is not set', "Set base-dir to an absolute path such as '/srv/runbox'");
    const baseDir = checkHostPath('base-dir', rawBase, "Use an absolute path of a dir runbox may own, such as '/srv/runbox' or '${{ runner.temp }}/runbox'");
    const mounts = parsePathList(src, 'mounts');
    const reclaim = parsePathList(src, 'reclaim');
    for (const p of [...mounts, ...reclaim])
        if (p === baseDir || isUnder(baseDir, p))
            throw new InputError(mounts.includes(p) ? 'mounts' : 'reclaim', `'${p}' contains base-dir ${baseDir}`, 'List paths that do not contain base-dir; runbox manages base-dir itself');
    const id = src.value('id');
    if (/[\0\n]/.test(id))
        throw new InputError('id', 'it contains a control character', 'Use a short single-line discriminator such as the matrix values');
    return {
        baseDir,
        dirs: parseDirs(src),
        id,
        ownerSpec: src.value('owner'),
        mounts,
        reclaim,
        keep: parseBoolean(src, 'keep', false),
        lockTimeoutSec: parseLockTimeout(src),
        releaseTimeoutSec: parseReleaseTimeout(src),
        leftovers: parseLeftovers(src)
    };
}
/**
 * The store's host paths, checked on disk with the other inputs, before anything is created:
 * a store path may pass only through symlinks root made (a /nix moved to another disk); the
 * staging base (RUNNER_TEMP) through none, since downloads are written there.
 */
function checkStoreHostPaths(cfg) {
    for (const p of cfg.storePaths)
        checkHostPath('store-paths', external_node_path_default().join(cfg.root, p), 'List the real store dirs', { rootMadeParents: true });
    const link = symlinkedComponent(cfg.stagingBase);
    if (link)
        throw new InputError('store', `the staging dir RUNNER_TEMP '${cfg.stagingBase}' resolves through a symlink (${link.at} -> ${link.target}); snapshots are downloaded there`, `Give the runner a RUNNER_TEMP without symlinks, or remove ${link.at} if you did not make it`);
}

;// CONCATENATED MODULE: ./src/action/known-inputs.ts
// The runner passes every key under `with:` as an INPUT_<NAME> variable, known to the action or
// not, and only warns about unknown ones in a collapsed corner of the log. A typo'd input
// (`disk_limit`, `reap-afer`) then silently leaves a guard off, so main compares the variables
// with the inputs action.yml declares and fails naming the closest one.




/**
 * The input names declared in the action.yml next to the bundle (`<action>/dist/main.js` ->
 * `<action>/action.yml`), read at run time so that the list can never fall behind action.yml.
 * undefined when there is no action.yml there (the bundle run outside an action checkout).
 */
function declaredInputs(script = process.argv[1], subAction = '') {
    if (!script)
        return undefined;
    let yml;
    try {
        // A sub-action's bundle is in the same dist/; its action.yml is in its own folder (`restore/`).
        yml = external_node_fs_default().readFileSync(external_node_path_default().join(external_node_path_default().dirname(external_node_fs_default().realpathSync(script)), '..', subAction, 'action.yml'), 'utf8');
    }
    catch (e) {
        if (e.code === 'ENOENT')
            return undefined;
        throw e;
    }
    const section = yml.split(/^inputs:\s*$/m)[1]?.split(/^\S/m)[0] ?? '';
    return [...section.matchAll(/^ {2}([A-Za-z0-9_-]+):\s*$/gm)].map((m) => m[1]);
}
/** Edit distance, for "did you mean": inputs are short, so the plain dynamic programme will do. */
function distance(a, b) {
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        const cur = [i];
        for (let j = 1; j <= b.length; j++)
            cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = cur;
    }
    return prev[b.length];
}
/**
 * The declared input nearest to `given` (`_` and `-` count as the same). An input that `given`
 * starts with, or that starts with it, counts as nearer (`keep_dirs`, `reap`): those are an
 * input with a word added or cut, not a different word.
 */
function closestInput(given, declared) {
    const norm = (s) => s.toLowerCase().replace(/_/g, '-');
    const g = norm(given);
    const score = (a) => distance(g, norm(a)) - (g.startsWith(norm(a)) || norm(a).startsWith(g) ? 100 : 0);
    return [...declared].sort((a, b) => score(a) - score(b) || (a < b ? -1 : 1))[0];
}
/** Fails on the first INPUT_ variable that no declared input maps to, naming the nearest one. */
function checkUnknownInputs(declared, env = process.env) {
    const known = new Set(declared.map(inputEnvName));
    const unknown = Object.keys(env)
        .filter((k) => k.startsWith('INPUT_') && !known.has(k))
        .sort();
    if (unknown.length === 0)
        return;
    // The runner upper-cases names; lower case is how the workflow most likely spelled it.
    const name = unknown[0].slice('INPUT_'.length).toLowerCase();
    const others = unknown.length > 1
        ? ` (also unknown: ${unknown
            .slice(1)
            .map((k) => `'${k.slice(6).toLowerCase()}'`)
            .join(', ')})`
        : '';
    throw new InputError(name, `runbox has no input of this name${others}, so it would be ignored`, `Did you mean '${closestInput(name, declared)}'? The inputs are: ${declared.join(', ')}`);
}

;// CONCATENATED MODULE: ./src/sys/users.ts
// Resolves the `owner` input to numeric ids. Names go through getent, so NSS users (LDAP,
// sssd) resolve like they would for `chown`.


const FIX = "Write 'uid:gid' (e.g. 1000:1000), 'uid', or 'user[:group]' naming a user and group that exist on this host";
async function getent(db, key) {
    const r = await run('getent', [db, key], { allowFailure: true });
    if (r.code === 2)
        return undefined; // getent: key not found
    if (r.code !== 0)
        throw new Error(`getent ${db} ${key} failed with ${r.code}: ${r.stderr.trim()}`);
    return r.stdout.split('\n')[0].split(':');
}
function parseId(s) {
    if (!/^\d+$/.test(s))
        return undefined;
    const n = Number(s);
    return n <= 0xfffffffe ? n : undefined;
}
function runnerIds() {
    return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}
/**
 * A bare uid takes the primary group of the host user with that uid, or the same number when
 * the host has no such user (the usual case for container users).
 */
async function resolveOwner(spec) {
    if (spec === '')
        return runnerIds();
    const m = /^([^:\s]+)(?::([^:\s]+))?$/.exec(spec);
    if (!m)
        throw new InputError('owner', `'${spec}' is not an owner`, FIX);
    const [, userPart, groupPart] = m;
    let uid = parseId(userPart);
    let primaryGid;
    if (uid === undefined) {
        if (/^\d+$/.test(userPart))
            throw new InputError('owner', `uid ${userPart} is out of range`, FIX);
        const pw = await getent('passwd', userPart);
        if (!pw)
            throw new InputError('owner', `user '${userPart}' does not exist on this host`, FIX);
        uid = Number(pw[2]);
        primaryGid = Number(pw[3]);
    }
    else if (groupPart === undefined) {
        const pw = await getent('passwd', userPart);
        primaryGid = pw ? Number(pw[3]) : uid;
    }
    if (groupPart === undefined)
        return { uid, gid: primaryGid ?? uid };
    let gid = parseId(groupPart);
    if (gid === undefined) {
        if (/^\d+$/.test(groupPart))
            throw new InputError('owner', `gid ${groupPart} is out of range`, FIX);
        const gr = await getent('group', groupPart);
        if (!gr)
            throw new InputError('owner', `group '${groupPart}' does not exist on this host`, FIX);
        gid = Number(gr[2]);
    }
    return { uid, gid };
}

;// CONCATENATED MODULE: ./src/sys/errno.ts
// Errno checks and the one "lstat, or nothing there" of runbox.

// Not `instanceof Error`: errors thrown by node core come from another realm under jest's vm modules.
function errnoOf(e) {
    return typeof e === 'object' && e !== null ? e.code : undefined;
}
function isErrno(e, ...codes) {
    const code = errnoOf(e);
    return code !== undefined && codes.includes(code);
}
/**
 * lstat, or undefined when the path names nothing: ENOENT, and ENOTDIR, which is the same answer
 * for a path whose parent was replaced by a file (a concurrent reap or a planted file). Any other
 * errno is not "missing" and is thrown: EACCES in particular means "there may be something we
 * cannot see", and only a caller that can treat such an entry as not its own says so with
 * `hiddenIsMissing` (warm, which never copies from a dir another runner user closed).
 */
function lstatOrUndefined(p, opts = {}) {
    try {
        return external_node_fs_default().lstatSync(p);
    }
    catch (e) {
        if (isErrno(e, 'ENOENT', 'ENOTDIR') || (opts.hiddenIsMissing === true && isErrno(e, 'EACCES')))
            return undefined;
        throw e;
    }
}

;// CONCATENATED MODULE: ./src/sys/privileged-fs.ts
// Privileged-when-needed filesystem changes. Each one tries as the runner user first and borrows
// root (directly or through `sudo -n`, see exec.runElseRoot) only when the runner's own rights
// are not enough, so a runner without sudo still works for dirs it owns.






function sameIds(a, b) {
    return a.uid === b.uid && a.gid === b.gid;
}
/** The components of `p` that do not exist yet, outermost first. */
function missingComponents(p) {
    const missing = [];
    for (let cur = p; !lstatOrUndefined(cur); cur = external_node_path_default().dirname(cur))
        missing.unshift(cur);
    return missing;
}
async function chown(paths, ids, opts = {}) {
    if (paths.length === 0)
        return;
    // -R -P: never traverse a symlink met on the way (GNU's default, spelled out); -h: chown the link itself.
    const args = [...(opts.recursive ? ['-R', '-P'] : []), '-h', `${ids.uid}:${ids.gid}`, '--', ...paths];
    // Giving ourselves files that are ours anyway works unprivileged; files a container wrote
    // as root or as its own uid need root, and so does giving anything to another user.
    await runElseRoot('chown', args, `chown ${paths.join(', ')} to ${ids.uid}:${ids.gid}`, { tryRunnerFirst: sameIds(ids, runnerIds()) });
}
/**
 * Creates `p` (and missing parents) owned by `ids`; an existing dir is chowned to `ids` when
 * it is not already (unless `shared`). Returns the components it created. A symlink or a
 * non-dir is refused.
 */
async function ensureDir(p, ids, opts = {}) {
    const st = lstatOrUndefined(p);
    if (st) {
        if (st.isSymbolicLink())
            throw new Error(`${p} is a symlink; runbox only manages real directories`);
        if (!st.isDirectory())
            throw new Error(`${p} exists and is not a directory`);
        if (!opts.shared && (st.uid !== ids.uid || st.gid !== ids.gid))
            await chown([p], ids);
        return [];
    }
    const missing = missingComponents(p);
    // A sibling run made it since the check above (shared parents such as <base-dir>/<ref-key>).
    if (missing.length === 0)
        return ensureDir(p, ids, opts);
    const parent = external_node_path_default().dirname(missing[0]);
    // mkdir -p would create through a symlinked parent, wherever it points.
    assertNoSymlink(parent, 'create dirs under');
    const pst = external_node_fs_default().statSync(parent);
    if (!pst.isDirectory())
        throw new Error(`${parent} is not a directory`);
    let writable = true;
    try {
        external_node_fs_default().accessSync(parent, (external_node_fs_default()).constants.W_OK | (external_node_fs_default()).constants.X_OK);
    }
    catch (e) {
        if (e.code !== 'EACCES' && e.code !== 'EROFS')
            throw e;
        writable = false;
    }
    if (writable)
        external_node_fs_default().mkdirSync(p, { recursive: true, mode: 0o755 });
    else {
        await ensurePrivilege(`create ${p} (its parent ${parent} is not writable by the runner user)`);
        await run('mkdir', ['-p', '-m', '0755', '--', p], { privileged: true });
    }
    // A shared parent made inside a group-shared dir (g+w, no o+w: the admin's set-up for runner
    // users of one group on one base-dir) is group-shared too: the group's, 2775, so that every
    // runner user of the group can make its lock files and dirs in it (lock/flock.ts groupShared).
    const share = opts.shared === true && (pst.mode & 0o020) !== 0 && (pst.mode & 0o002) === 0;
    const want = share ? { uid: ids.uid, gid: pst.gid } : ids;
    const wrong = missing.filter((c) => {
        const s = external_node_fs_default().lstatSync(c);
        return s.uid !== want.uid || s.gid !== want.gid;
    });
    if (share) {
        // A member of the group may give its own dirs to it; root is needed only when not a member.
        const chownArgs = ['-h', `${want.uid}:${want.gid}`, '--', ...wrong];
        if (wrong.length > 0)
            await runElseRoot('chown', chownArgs, `give ${wrong.join(', ')} to ${want.uid}:${want.gid}`);
        await run('chmod', ['2775', '--', ...missing], { privileged: !isRoot() && external_node_fs_default().lstatSync(missing[0]).uid !== runnerIds().uid });
    }
    else
        await chown(wrong, ids);
    return missing;
}
/** Paths under `p` (itself included) not owned by `ids`, without following symlinks, on p's filesystem only. */
async function countForeign(p, ids) {
    const args = [p, '-xdev', '(', '!', '-uid', String(ids.uid), '-o', '!', '-gid', String(ids.gid), ')', '-printf', '.'];
    // One byte per entry; a tree of millions of entries is still far below this.
    const maxStdout = 256 * 1024 * 1024;
    // Unreadable dirs (root-owned 0700, say) hide their contents from the runner user.
    const r = await runElseRoot('find', args, `inspect ownership under ${p}`, { maxStdout });
    return r.stdout.length;
}
/**
 * Gives every entry under `p` (itself included) not owned by `ids` to `ids`, as countForeign
 * counts them: symlinks themselves, never their targets, and on p's own filesystem only (a
 * mount point inside, say a bind mount of a system dir, is neither entered nor chowned).
 * `find -execdir` runs `chown -h ./name` from the entry's own dir, which find reached without
 * following a symlink, so a dir swapped for a symlink during the walk cannot redirect a chown.
 */
async function chownTree(p, ids) {
    assertNoSymlink(p, 'chown');
    const args = [p, '-xdev', '(', '!', '-uid', String(ids.uid), '-o', '!', '-gid', String(ids.gid), ')', '-execdir', 'chown', '-h', `${ids.uid}:${ids.gid}`, '--', '{}', '+'];
    // -execdir refuses a PATH with relative entries (they would resolve in each visited dir).
    const env = {
        ...process.env,
        PATH: (process.env.PATH ?? '/usr/bin:/bin')
            .split(':')
            .filter((d) => d.startsWith('/'))
            .join(':')
    };
    // Files a container wrote as root or as its own uid need root; ours alone do not.
    await runElseRoot('find', args, `chown ${p} to ${ids.uid}:${ids.gid}`, { env, tryRunnerFirst: sameIds(ids, runnerIds()) });
}
/**
 * Deletes a dir tree, root-owned contents included, staying on its filesystem. The caller has
 * checked that `p` is a real dir inside the tree runbox owns (paths.assertOwnedSubdir).
 */
async function removeTree(p, opts = {}) {
    // The lock guarding `p` goes along with rm: if this process dies mid-delete, the dir stays
    // locked until rm is done, so nobody starts using a half-deleted dir.
    await runElseRoot('rm', ['-rf', '--one-file-system', '--', p], `remove ${p} (it holds files the runner user cannot delete)`, {
        ...(opts.holdFd === undefined ? {} : { holdFds: [opts.holdFd] })
    });
}
/** Bytes used by a tree (du); what the runner user cannot read is not counted. */
async function treeBytes(p) {
    const r = await run('du', ['-sxb', '--', p], { allowFailure: true });
    const n = Number(r.stdout.split('\t')[0]);
    return Number.isFinite(n) ? n : 0;
}

;// CONCATENATED MODULE: ./src/dirs/provision.ts
// Main's dir work: this run's dirs under base-dir and the bind-mount sources, created with the
// right owner so Docker never creates them as root.



/** base-dir and the run/pr parents belong to the runner user; the dirs themselves to `owner`. */
async function provisionDirs(layout, specs, owner, runner) {
    if (specs.length === 0)
        return [];
    await ensureDir(layout.baseDir, runner, { shared: true });
    if (specs.some((s) => s.scope === 'run'))
        await ensureDir(layout.runDir, runner);
    if (specs.some((s) => s.scope === 'pr'))
        await ensureDir(layout.prDir, runner, { shared: true });
    const out = [];
    for (const spec of specs) {
        const p = dirPath(layout, spec);
        await ensureDir(p, owner);
        out.push({ name: spec.name, path: p, scope: spec.scope });
    }
    return out;
}
/**
 * Missing sources are created owned by `owner`; existing ones are chowned to it, recursively,
 * on their own filesystem, never through a symlink (a symlinked component anywhere is refused).
 */
async function provisionMounts(mounts, owner) {
    const out = [];
    for (const m of mounts) {
        const link = symlinkedComponent(m);
        if (link)
            throw new Error(`mount source ${m} passes through the symlink ${link.at} (to ${link.target}); nothing was created or chowned. List the real directory instead, or remove ${link.at} if you did not make it`);
        const made = await ensureDir(m, owner);
        if (made.length > 0) {
            out.push({ path: m, created: true, chowned: 0 });
            continue;
        }
        const foreign = await countForeign(m, owner);
        if (foreign > 0)
            await chownTree(m, owner);
        out.push({ path: m, created: false, chowned: foreign });
    }
    return out;
}

;// CONCATENATED MODULE: ./src/dirs/reclaim.ts
// Gives paths back to the runner user. Containers write root-owned files into the workspace and
// bind mounts; the next checkout's `git clean` then fails. Post heals it, and so does the next
// main, because a hard-killed job never runs its post.



async function reclaimPaths(paths, runner) {
    const out = [];
    for (const p of paths) {
        // Every component, not only the last: a symlinked parent would send the chown anywhere.
        // Checked while parsing the inputs too; again here, since post runs much later.
        const link = symlinkedComponent(p);
        if (link)
            throw new Error(`reclaim path ${p} passes through the symlink ${link.at} (to ${link.target}); nothing was chowned. List the real directory instead, or remove ${link.at} if you did not make it`);
        const st = external_node_fs_default().lstatSync(p, { throwIfNoEntry: false });
        if (!st)
            continue;
        const foreign = await countForeign(p, runner);
        if (foreign > 0)
            await chownTree(p, runner);
        out.push({ path: p, healed: foreign });
    }
    return out;
}

// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __nccwpck_require__(598);
var external_node_crypto_default = /*#__PURE__*/__nccwpck_require__.n(external_node_crypto_);
;// CONCATENATED MODULE: ./src/lock/flock.ts
// "Is this dir in use?" is answered by the kernel: a dir is in use while someone holds an
// exclusive flock(2) on its lock file. The lock dies with the last fd that refers to it, so a
// crashed or killed run frees it without pid files, heartbeats or TTLs.
//
// Node has no flock API. We open the lock file ourselves and hand that fd to util-linux
// `flock -x 3` as the child's fd 3. flock(2) locks belong to the open file description, which
// the child's fd 3 shares with ours, so once the child exits 0 the lock is held by our fd and
// stays held until every copy of that description is closed (ours, or a keeper's — see
// keeper-client.ts). The fd is opened O_CLOEXEC by node, so no other child inherits it by accident.



/** How a waiter names whoever holds a lock, from what the last writer of the record said. */
function describeHolder(h) {
    if (!h)
        return 'held by an unknown process';
    if (h.reaping)
        return `held by a janitor removing it (pid ${h.pid}, since ${h.reaping})`;
    // The record is the last run's, but that run let go: whoever holds it now wrote nothing (a
    // janitor or disk guard checking it, a post making sure it is free).
    if (h.released)
        return `held by a process that is not a run (run ${h.runId} (${h.runner}) let go at ${h.released}; likely a janitor checking it)`;
    return `held by run ${h.runId} (${h.runner})`;
}
class LockTimeoutError extends Error {
    path;
    holder;
    timeoutSec;
    constructor(path, holder, timeoutSec) {
        super(`Lock ${path} is ${describeHolder(holder)}; gave up after ${timeoutSec}s`);
        this.path = path;
        this.holder = holder;
        this.timeoutSec = timeoutSec;
        this.name = 'LockTimeoutError';
    }
}
/**
 * Each wait is cut into short `flock -w` slices so that (a) a lock file that got unlinked or
 * replaced while we waited is noticed and reopened, and (b) if this process is killed, an
 * orphaned flock child waits at most one slice instead of grabbing the lock much later.
 */
const WAIT_SLICE_SEC = 5;
async function acquireLock(path, opts) {
    const started = Date.now();
    const deadline = started + opts.timeoutSec * 1000;
    let waited = false;
    for (;;) {
        const { fd, writable } = openLockFile(path);
        let locked;
        try {
            locked = await flockFd(fd, 0);
            if (!locked && !waited && opts.timeoutSec > 0) {
                waited = true;
                opts.onWait?.(readHolder(path));
            }
            while (!locked && Date.now() < deadline && sameFile(fd, path)) {
                locked = await flockFd(fd, Math.min(WAIT_SLICE_SEC, (deadline - Date.now()) / 1000));
                if (!locked)
                    opts.onStillWaiting?.(readHolder(path), (Date.now() - started) / 1000);
            }
        }
        catch (e) {
            external_node_fs_.closeSync(fd);
            throw e;
        }
        // The inode check must come after locking: the previous holder may have unlinked (and someone
        // recreated) the path while we waited, and a lock on a nameless inode guards nothing.
        if (locked && sameFile(fd, path))
            return heldLock(path, fd, writable);
        external_node_fs_.closeSync(fd);
        // A lock on a replaced inode is retried even past the deadline: the new file is usually free.
        if (!locked && Date.now() >= deadline)
            throw new LockTimeoutError(path, readHolder(path), opts.timeoutSec);
    }
}
/** Takes the lock only if nobody holds it (janitors, disk guard). */
async function tryLock(path) {
    try {
        return await acquireLock(path, { timeoutSec: 0 });
    }
    catch (e) {
        if (e instanceof LockTimeoutError)
            return undefined;
        throw e;
    }
}
/** What the current (or last) holder wrote; undefined when the file is missing, empty, mid-write, or not a plain lock file. */
function readHolder(path) {
    let fd;
    try {
        // Never through a symlink, never blocking on a FIFO someone put there.
        fd = external_node_fs_.openSync(path, external_node_fs_.constants.O_RDONLY | external_node_fs_.constants.O_NOFOLLOW | external_node_fs_.constants.O_NONBLOCK);
    }
    catch (e) {
        if (isErrno(e, 'ENOENT', 'ELOOP', 'EACCES'))
            return undefined;
        throw e;
    }
    let text;
    try {
        if (!external_node_fs_.fstatSync(fd).isFile())
            return undefined;
        const buf = Buffer.alloc(MAX_HOLDER_BYTES);
        text = buf.subarray(0, external_node_fs_.readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
    }
    finally {
        external_node_fs_.closeSync(fd);
    }
    try {
        const info = JSON.parse(text);
        return typeof info === 'object' && info !== null && 'runId' in info ? info : undefined;
    }
    catch (e) {
        // The holder truncates and rewrites the file; a reader can land in between.
        if (e instanceof SyntaxError)
            return undefined;
        throw e;
    }
}
/** Holder records are a few hundred bytes; a bigger file is not one of ours and is not read whole. */
const MAX_HOLDER_BYTES = 64 * 1024;
/**
 * For a reaper that deleted the guarded dir: unlinks the lock file, but only if the path still
 * names the inode we hold (someone may already have replaced it), then releases. Waiters on the
 * old inode notice the unlink when they get it and reopen the path.
 */
function removeLockFile(held) {
    let removed = false;
    try {
        if (sameFile(held.fd, held.path)) {
            external_node_fs_.unlinkSync(held.path);
            removed = true;
        }
    }
    finally {
        held.release();
    }
    return removed;
}
function heldLock(path, fd, writable) {
    let open = true;
    return {
        path,
        fd,
        writeHolder(info) {
            // After release the fd number may already belong to another file.
            if (!writable || !open)
                return false;
            const data = Buffer.from(JSON.stringify(info) + '\n');
            external_node_fs_.ftruncateSync(fd, 0);
            external_node_fs_.writeSync(fd, data, 0, data.length, 0);
            return true;
        },
        release() {
            // Closing twice could close an unrelated fd that reused the number.
            if (!open)
                return;
            open = false;
            external_node_fs_.closeSync(fd);
        }
    };
}
/**
 * A lock file is refused, with nothing read, truncated or written, when it is not what runbox
 * makes: base-dir may be shared with other local users, and lock names are predictable, so
 * another user can plant a symlink (to make runbox write through it) or a file of their own.
 * `code` is EACCES so that janitors, which skip lock files they may not open, skip these too.
 */
class LockFileError extends Error {
    path;
    code = 'EACCES';
    constructor(path, problem) {
        super(`lock file ${path} ${problem}; runbox refuses it and wrote nothing to it. Another local user may have put it there: ` +
            `remove it (\`rm ${path}\`) and give base-dir to the runner user alone (a dir no other user can write to, e.g. '\${{ runner.temp }}/runbox'), ` +
            `or, for runner users of one group, to that group with mode 2775 (no write for others)`);
        this.path = path;
        this.name = 'LockFileError';
    }
}
/**
 * Opens the lock file, creating it when missing. Never follows a symlink (O_NOFOLLOW; a new file
 * is made with O_EXCL, which does not follow one either), never blocks on a FIFO (O_NONBLOCK),
 * and node opens every fd O_CLOEXEC. The open file is then checked by fstat:
 * - a regular file with one link (a hard link to someone else's file would carry its owner);
 * - owned by this user, or by root when this user is not root (a root runner or janitor made
 *   it), or by another user when its dir is group-shared (see groupShared): then its maker is a
 *   member of the group the host's admin gave base-dir to, a fellow runner user, and no one
 *   outside that group could have planted it.
 * In a group-shared dir lock files are made 0664, so every runner user of the group writes the
 * holder record and stamps the last use; elsewhere 0644, and a lock file we can only read is
 * used read-only (flock(2) works on a read-only fd; only the holder record is not written).
 */
function openLockFile(path) {
    const { O_RDWR, O_RDONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = external_node_fs_.constants;
    const safe = O_NOFOLLOW | O_NONBLOCK;
    let denied;
    try {
        const fd = external_node_fs_.openSync(path, O_RDWR | O_CREAT | O_EXCL | safe, 0o644);
        // umask would take the group's write bit away; ours to give (we made it).
        if (groupShared(pathDirname(path)))
            external_node_fs_.fchmodSync(fd, 0o664);
        return { fd, writable: checkLockFd(fd, path) };
    }
    catch (e) {
        if (e instanceof LockFileError)
            throw e;
        if (isErrno(e, 'EACCES'))
            denied = e;
        else if (!isErrno(e, 'EEXIST'))
            throw e;
    }
    for (const flags of [O_RDWR | safe, O_RDONLY | safe]) {
        let fd;
        try {
            fd = external_node_fs_.openSync(path, flags);
        }
        catch (e) {
            if (isErrno(e, 'ELOOP'))
                throw new LockFileError(path, 'is a symbolic link');
            if (isErrno(e, 'EISDIR'))
                throw new LockFileError(path, 'is a directory');
            if (isErrno(e, 'EACCES')) {
                denied ??= e;
                continue;
            }
            // ENOENT after EACCES: the file does not exist and we may not create it; the EACCES says why.
            throw isErrno(e, 'ENOENT') && denied ? denied : e;
        }
        return { fd, writable: checkLockFd(fd, path) && (flags & O_RDWR) !== 0 };
    }
    throw denied;
}
function pathDirname(p) {
    const i = p.lastIndexOf('/');
    return i <= 0 ? '/' : p.slice(0, i);
}
/**
 * A dir runner users of one group share (set up by the host's admin: base-dir owned by root or
 * a runner user, group = the runners' group, mode 2775): group-writable, not writable by others,
 * and so is its parent (base-dir, for a key dir). Everything in it was made by its owner, root
 * or a member of its group: another local user cannot plant a file there. Without the group
 * bit, another user's lock file is refused, as before; a world-writable dir never qualifies.
 */
function groupShared(dir) {
    const ok = (d) => {
        const st = external_node_fs_.lstatSync(d, { throwIfNoEntry: false });
        return st !== undefined && st.isDirectory() && (st.mode & 0o020) !== 0 && (st.mode & 0o002) === 0;
    };
    return ok(dir) && ok(pathDirname(dir));
}
/** Closes `fd` and throws LockFileError unless it is an acceptable lock file; true when we may write it. */
function checkLockFd(fd, path) {
    const st = external_node_fs_.fstatSync(fd);
    const me = process.getuid?.() ?? 0;
    let problem;
    if (!st.isFile())
        problem = 'is not a regular file';
    else if (st.nlink !== 1)
        problem = `has ${st.nlink} hard links (a lock file has one)`;
    else if (st.uid !== me && !(st.uid === 0 && me !== 0) && !groupShared(pathDirname(path)))
        problem = `belongs to uid ${st.uid}, not to the runner user (uid ${me})${me !== 0 ? ' or root' : ''}`;
    if (problem) {
        external_node_fs_.closeSync(fd);
        throw new LockFileError(path, problem);
    }
    return true;
}
/** True when `path` still names the inode behind `fd`. */
function sameFile(fd, path) {
    const held = external_node_fs_.fstatSync(fd);
    // lstat: a symlink put in the lock file's place is another file, even if it points at ours.
    const now = lstatOrUndefined(path);
    return now !== undefined && now.ino === held.ino && now.dev === held.dev;
}
/**
 * `flock -x` (or `-s` when `shared`) on our fd, passed to the child as its fd 3. waitSec 0 = don't wait.
 * Resolves true when locked, false when someone else holds it (flock's conflict exit code).
 * Not via run(): that one cannot pass extra fds.
 */
function flockFd(fd, waitSec, shared = false) {
    const CONFLICT = 75; // chosen with -E so a conflict cannot be mistaken for a flock error
    const wait = waitSec > 0 ? ['-w', waitSec.toFixed(2)] : ['-n'];
    return new Promise((resolve, reject) => {
        const { child } = startProcess('flock', [shared ? '-s' : '-x', '-E', String(CONFLICT), ...wait, '3'], { stdio: ['ignore', 'ignore', 'pipe'], extraFds: [fd] });
        // Tracked by startProcess: a cancelled step must not leave a flock behind that takes the lock after the step is gone.
        let stderr = '';
        child.stderr?.on('data', (b) => (stderr += b.toString()));
        child.on('error', (e) => reject(new Error(`cannot run util-linux flock: ${e.message}`)));
        child.on('close', (code, signal) => {
            if (code === 0)
                resolve(true);
            else if (code === CONFLICT)
                resolve(false);
            else
                reject(new Error(`flock on fd for lock failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
        });
    });
}

;// CONCATENATED MODULE: ./src/lock/root-files.ts
// Small root-owned files in one root-only dir (/run/runbox): the host-wide store restore lock
// and the daemon-stopped markers. Root writes them (directly, or through `sudo -n` running this
// node with a fixed script), so no runner user can plant or change them; the runner user only
// opens them read-only and checks that they are what root made. /run is per boot, like the
// processes these files speak about.




const RUN_DIR = '/run/runbox';
/**
 * Creates (if missing), writes or removes `file` directly in `dir`, as root. The dir is made 0755
 * when missing and must then be a root-owned dir no one else can write to; files are created
 * O_EXCL|O_NOFOLLOW, written through a temp name and renamed, so a reader never sees half a record.
 * Runs in this process when runbox is root; otherwise its own source is the `node -e` script sudo
 * runs (SCRIPT): so it uses nothing but its parameters.
 */
function applyRootFile(fs, dirname, mode, dir, file, data) {
    const fail = (m) => {
        throw new Error(m);
    };
    try {
        fs.mkdirSync(dir, { mode: 0o755 });
    }
    catch (e) {
        if (e.code !== 'EEXIST')
            throw e;
    }
    const st = fs.lstatSync(dir);
    if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0)
        fail(`${dir} is not a root-owned dir that only root can write to`);
    if (dirname(file) !== dir)
        fail(`${file} is not directly in ${dir}`);
    const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
    const create = (p) => {
        const fd = fs.openSync(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
        fs.fchmodSync(fd, 0o644);
        return fd;
    };
    if (mode === 'create') {
        try {
            fs.closeSync(create(file));
        }
        catch (e) {
            if (e.code !== 'EEXIST')
                throw e;
        }
    }
    else if (mode === 'write') {
        // A fresh name per write: in-process, the pid is the same for every write of the step, and a
        // temp file left by a write that failed (ENOSPC) must not fail the next ones.
        const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
        const fd = create(tmp);
        fs.writeSync(fd, data);
        fs.closeSync(fd);
        fs.renameSync(tmp, file);
    }
    else if (mode === 'remove') {
        try {
            fs.unlinkSync(file);
        }
        catch (e) {
            if (e.code !== 'ENOENT')
                throw e;
        }
    }
    else
        fail(`unknown mode ${mode}`);
}
// What sudo runs when runbox is not root: applyRootFile's own source, argv mode dir file [data].
// The message alone on stderr (the last lines of a stack would hide it in the CommandError).
const SCRIPT = `try { (${applyRootFile.toString()})(require('node:fs'), require('node:path').dirname, ...process.argv.slice(1)); } catch (e) { process.stderr.write(String(e && e.message || e) + '\\n'); process.exit(3); }`;
/** Creates (if missing), writes or removes a root-owned file directly in the root-only dir `dir`. */
async function rootFile(mode, file, data = '', dir = external_node_path_default().dirname(file)) {
    const link = symlinkedComponent(dir);
    if (link)
        throw new Error(`${dir} passes through the symlink ${link.at} (to ${link.target}); runbox keeps its root-only files in a real dir`);
    // As root: no process (a node started for a few syscalls cost a restore about 0.1 s a file).
    if (isRoot())
        return applyRootFile((external_node_fs_default()), (p) => external_node_path_default().dirname(p), mode, dir, file, data);
    await ensurePrivilege(`keep runbox's host-wide records in ${dir}`);
    await run(process.execPath, ['-e', SCRIPT, mode, dir, file, data], { privileged: true });
}
/**
 * Opens a file that root must have made, read-only and never through a link, and checks it:
 * a regular file with one link, owned by root, writable by root alone, in a dir that is the same.
 * Returns the fd (the caller closes it), or undefined when it does not exist.
 */
function openRootFile(file) {
    const dst = external_node_fs_default().lstatSync(external_node_path_default().dirname(file));
    if (!dst.isDirectory() || dst.uid !== 0 || (dst.mode & 0o022) !== 0)
        throw new Error(`${external_node_path_default().dirname(file)} is not a root-owned dir that only root can write to`);
    let fd;
    try {
        fd = external_node_fs_default().openSync(file, (external_node_fs_default()).constants.O_RDONLY | (external_node_fs_default()).constants.O_NOFOLLOW | (external_node_fs_default()).constants.O_NONBLOCK);
    }
    catch (e) {
        if (e.code === 'ENOENT')
            return undefined;
        if (e.code === 'ELOOP')
            throw new Error(`${file} is a symlink, not the file root made`);
        throw e;
    }
    const st = external_node_fs_default().fstatSync(fd);
    if (!st.isFile() || st.nlink !== 1 || st.uid !== 0 || (st.mode & 0o022) !== 0) {
        external_node_fs_default().closeSync(fd);
        throw new Error(`${file} is not a root-owned regular file that only root can write to`);
    }
    return fd;
}
/** A small JSON record root wrote; undefined when missing or unreadable as JSON. */
function readRootRecord(file) {
    const fd = openRootFile(file);
    if (fd === undefined)
        return undefined;
    try {
        const buf = Buffer.alloc(16 * 1024);
        const text = buf.subarray(0, external_node_fs_default().readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
        const v = JSON.parse(text);
        return typeof v === 'object' && v !== null ? v : undefined;
    }
    catch (e) {
        if (e instanceof SyntaxError)
            return undefined;
        throw e;
    }
    finally {
        external_node_fs_default().closeSync(fd);
    }
}

;// CONCATENATED MODULE: ./src/lock/restore-lock.ts
// One restore at a time into a store, host-wide. Restores run as root and each one plans from
// what is on disk (which items exist, which DB rows are valid): two at once both see an item
// missing, both move it in, and the DB ends up registering what neither left there. So a
// restore holds an exclusive flock on a root-made lock file across download, check, move and
// DB. Waiters say whom they wait for and give up after lock-timeout, continuing as on a miss.
//
// The lock file is in /run/runbox, not next to the store: a file beside /gnu/store would be a
// change outside the store paths, and the parent of a store may not exist yet on a fresh host.
// Keyed by the store dir's path, so different stores (and test roots) do not wait for each other.









/** lock-timeout's default; run-main sets the input's value. */
let timeoutSec = 1800;
function setRestoreLockTimeout(sec) {
    timeoutSec = sec;
}
/** What setRestoreLockTimeout set (lock-timeout), for work that post does under the same lock. */
function restoreLockTimeout() {
    return timeoutSec;
}
const restore_lock_WAIT_SLICE_SEC = 5;
function restoreLockPath(storeDir, dir = RUN_DIR) {
    const h = external_node_crypto_default().createHash('sha256').update(storeDir).digest('hex').slice(0, 16);
    return external_node_path_default().join(dir, `restore-${h}.lock`);
}
function restore_lock_describeHolder(h) {
    if (!h || typeof h.pid !== 'number')
        return 'holder unknown';
    const gone = procStat(h.pid) === undefined || (typeof h.startTime === 'string' && procStat(h.pid)?.startTime !== h.startTime);
    return `pid ${h.pid}${typeof h.runId === 'string' && h.runId ? `, run ${h.runId}` : ''}${typeof h.since === 'string' ? `, since ${h.since}` : ''}${gone ? ', which has exited' : ''}`;
}
/**
 * Runs fn holding the store's restore lock. fn gets `busy`: undefined when the lock is held;
 * a reason when it could not be had (another restore held it past the timeout, or the lock
 * could not be set up) — fn must then not touch the store and treat it as a miss.
 */
async function withStoreRestoreLock(storeDir, fn, opts = {}) {
    const lockPath = restoreLockPath(storeDir, opts.dir);
    const holderPath = lockPath.replace(/\.lock$/, '.holder');
    const wait = opts.timeoutSec ?? timeoutSec;
    // Without root rights there is no restore at all; that error stays the one it always was.
    await ensurePrivilege('restore a store snapshot into root-owned store paths');
    let fd;
    try {
        await rootFile('create', lockPath);
        fd = openRootFile(lockPath);
        if (fd === undefined)
            throw new Error(`${lockPath} is missing right after it was made`);
    }
    catch (e) {
        const why = `the host's restore lock ${lockPath} could not be taken: ${errorMessage(e)}`;
        core_warning(`runbox store: ${why}; continuing as on a cache miss`);
        return fn(why);
    }
    try {
        let locked = await flockFd(fd, 0);
        // A holder records itself just after it got the lock: give it a moment before asking who it is.
        if (!locked && wait > 0)
            locked = await flockFd(fd, Math.min(1, wait));
        if (!locked) {
            const who = restore_lock_describeHolder(readRootRecord(holderPath));
            info(`runbox store: another restore into ${storeDir} holds the host's restore lock ${lockPath} (${who}); waiting up to ${wait} s`);
            const deadline = Date.now() + wait * 1000;
            while (!locked && Date.now() < deadline)
                locked = await flockFd(fd, Math.min(restore_lock_WAIT_SLICE_SEC, (deadline - Date.now()) / 1000));
            if (!locked) {
                const why = `another restore into ${storeDir} (${restore_lock_describeHolder(readRootRecord(holderPath))}) held the host's restore lock for more than ${wait} s (lock-timeout)`;
                core_warning(`runbox store: ${why}; continuing as on a cache miss`);
                return await fn(why);
            }
            info(`runbox store: got the host's restore lock for ${storeDir}`);
        }
        const holder = {
            pid: process.pid,
            since: new Date().toISOString(),
            runId: process.env.GITHUB_RUN_ID ?? '',
            job: process.env.GITHUB_JOB ?? '',
            startTime: procStat(process.pid)?.startTime
        };
        // Only for waiters' messages: a failure to write it must not stop the restore.
        await rootFile('write', holderPath, JSON.stringify(holder)).catch((e) => info(`runbox store: could not record this restore as the lock's holder: ${errorMessage(e)}`));
        return await fn(undefined);
    }
    finally {
        external_node_fs_default().closeSync(fd);
    }
}

;// CONCATENATED MODULE: ./src/lock/mount-holds.ts
// Mount sources (`mounts:`) are shared by every job on the host that lists them, possibly with
// different owners: a second job with another owner would chown the tree under the first job's
// container ("Permission denied" mid-build). So a job holds each mount source for its whole
// duration, shared with the jobs of the same owner and exclusive against other owners.
//
// flock has no "shared per owner" mode, so there is one lock file per path and owner, held with a
// shared lock by every job of that owner, and one gate per path, held briefly and exclusively
// while a job checks that no other owner's file is held and takes its own. Root makes the files
// in /run/runbox (lock/root-files.ts), keyed by the path's hash: the mount sources may be anywhere
// on the host, under any base-dir or none, and no runner user can plant a file there.






const POLL_MS = 1000;
function key(mount) {
    return external_node_crypto_default().createHash('sha256').update(mount).digest('hex').slice(0, 16);
}
function ownerFile(dir, h, owner, ext) {
    return external_node_path_default().join(dir, `mount-${h}-${owner.uid}-${owner.gid}.${ext}`);
}
/** Another owner whose jobs hold `mount` now, with whoever recorded themselves last; undefined when none. */
async function otherOwnerHolding(dir, h, owner) {
    const re = new RegExp(`^mount-${h}-(\\d+)-(\\d+)\\.lock$`);
    for (const name of external_node_fs_default().readdirSync(dir).sort()) {
        const m = re.exec(name);
        if (!m || (Number(m[1]) === owner.uid && Number(m[2]) === owner.gid))
            continue;
        const fd = openRootFile(external_node_path_default().join(dir, name));
        if (fd === undefined)
            continue;
        let free;
        try {
            free = await flockFd(fd, 0);
        }
        finally {
            external_node_fs_default().closeSync(fd);
        }
        if (!free)
            return { owner: `${m[1]}:${m[2]}`, holder: readRootRecord(external_node_path_default().join(dir, name.replace(/\.lock$/, '.holder'))) };
    }
    return undefined;
}
function mount_holds_describe(o) {
    const h = o.holder;
    const run = h && typeof h.runId === 'string' ? `run ${h.runId}${typeof h.runner === 'string' ? ` (${h.runner})` : ''}` : 'another job';
    return `${run} as owner ${o.owner}`;
}
/**
 * Holds every mount source for `owner`: waits (up to `timeoutSec` in all) while a job with another
 * owner holds one, naming it. The returned locks go to the keeper with the dir locks.
 */
async function holdMountSources(mounts, owner, timeoutSec, who, dir = RUN_DIR) {
    const held = [];
    const deadline = Date.now() + timeoutSec * 1000;
    try {
        // Sorted: two jobs listing the same sources in another order never wait for each other in a circle.
        for (const mount of [...mounts].sort())
            held.push(await holdOne(mount, owner, deadline, timeoutSec, who, dir));
        return held;
    }
    catch (e) {
        for (const l of held)
            l.release();
        throw e;
    }
}
async function holdOne(mount, owner, deadline, timeoutSec, who, dir) {
    const h = key(mount);
    const gatePath = external_node_path_default().join(dir, `mount-${h}.gate`);
    const minePath = ownerFile(dir, h, owner, 'lock');
    await rootFile('create', gatePath);
    await rootFile('create', minePath);
    let said = false;
    for (;;) {
        const gate = openRootFile(gatePath);
        if (gate === undefined)
            throw new Error(`${gatePath} is missing right after it was made`);
        let conflict;
        try {
            // The gate is only ever held for a moment, by a job checking the owners.
            if (!(await flockFd(gate, Math.max(1, (deadline - Date.now()) / 1000))))
                throw new Error(`the gate ${gatePath} of mount source ${mount} stayed locked for ${timeoutSec} s`);
            conflict = await otherOwnerHolding(dir, h, owner);
            if (!conflict) {
                const fd = openRootFile(minePath);
                if (fd === undefined)
                    throw new Error(`${minePath} is missing right after it was made`);
                // Only shared holders (same owner) and gate holders probing it can have it, and we hold the gate.
                if (!(await flockFd(fd, 5, true))) {
                    external_node_fs_default().closeSync(fd);
                    throw new Error(`${minePath} could not be locked shared although no other owner holds ${mount}`);
                }
                await rootFile('write', ownerFile(dir, h, owner, 'holder'), JSON.stringify({ ...who, pid: process.pid, since: new Date().toISOString(), mount }));
                return mountLock(minePath, fd);
            }
        }
        finally {
            external_node_fs_default().closeSync(gate);
        }
        if (Date.now() >= deadline)
            throw new Error(`mount source ${mount} is in use by ${mount_holds_describe(conflict)}; gave up after ${timeoutSec}s (lock-timeout). runbox does not chown a mount source ` +
                `under a live job of another owner: give the jobs that share it the same owner, or give each owner its own path`);
        if (!said)
            info(`waiting for mount source ${mount}: in use by ${mount_holds_describe(conflict)}, and this job's owner is ${owner.uid}:${owner.gid}; giving up after ${timeoutSec} s`);
        said = true;
        await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(0, deadline - Date.now()))));
    }
}
function mountLock(p, fd) {
    let open = true;
    return {
        path: p,
        fd,
        // Root's record (.holder) says who holds it; the lock file itself is root's and read-only to us.
        writeHolder: () => false,
        release() {
            if (!open)
                return;
            open = false;
            external_node_fs_default().closeSync(fd);
        }
    };
}

;// CONCATENATED MODULE: ./src/lock/keeper-client.ts
// Hands held locks to a detached runbox-keeper (src/keeper.ts) so they outlive the main step's
// node process, and stops that keeper again in post.
//
// The keeper inherits our lock fds as its fds 3..N. Each inherited fd refers to the same open
// file description as ours, and flock(2) locks belong to the description, so after the handover
// the keeper alone keeps the locks held, for as long as it lives.






/**
 * Starts a keeper holding `locks` and, once it reports ready, closes our own fds: from then on
 * the keeper owns the locks and `locks` must not be used any more (write holder info first).
 * If the keeper fails to start, our fds stay open and the caller still holds the locks.
 */
async function startKeeper(locks, opts) {
    if (locks.length === 0)
        throw new Error('startKeeper: no locks to keep');
    const script = opts.keeperScript ?? keeperScript();
    const childFds = locks.map((_, i) => 3 + i);
    const readyFd = 3 + locks.length;
    const args = ['--watch-pid', String(opts.watchPid), '--fds', childFds.join(','), '--ready-fd', String(readyFd)];
    const { child } = startProcess(process.execPath, [script, ...args], {
        // Own session: not killed with main's process group, and no controlling terminal.
        detached: true,
        cwd: '/',
        // A long-lived process gets no more than it needs: not the step's INPUT_* values (which may be
        // secrets). RUNNER_TRACKING_ID lets the runner's end-of-job orphan cleanup kill a leftover keeper.
        env: keeperEnv(),
        // No stdio: holding the runner's pipes open would keep the step's log stream from ending.
        stdio: ['ignore', 'ignore', 'ignore'],
        extraFds: [...locks.map((l) => l.fd), 'pipe']
    });
    const ready = child.stdio[readyFd];
    try {
        await new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                child.kill('SIGKILL');
                reject(new Error(`runbox-keeper (${script}) did not report ready within ${opts.readyTimeoutMs ?? 10000} ms`));
            }, opts.readyTimeoutMs ?? 10000);
            const fail = (e) => {
                clearTimeout(timer);
                reject(e);
            };
            ready.once('data', () => {
                clearTimeout(timer);
                resolve();
            });
            child.once('error', (e) => fail(new Error(`cannot start runbox-keeper (${script}): ${e.message}`)));
            child.once('exit', (code, signal) => fail(new Error(`runbox-keeper (${script}) exited (${signal ?? `code ${code}`}) before it was ready${exitHint(code)}`)));
        });
    }
    finally {
        ready.destroy();
    }
    child.removeAllListeners();
    child.unref();
    // Only closes our copies; the keeper's copies keep the locks held.
    for (const lock of locks)
        lock.release();
    return { pid: child.pid };
}
/** dist/keeper.js, next to the running bundle (dist/runbox.js). */
function keeperScript() {
    return external_node_path_.join(external_node_path_.dirname((0,external_node_url_.fileURLToPath)(import.meta.url)), 'keeper.js');
}
function keeperEnv() {
    const env = { PATH: process.env.PATH };
    if (process.env.RUNNER_TRACKING_ID)
        env.RUNNER_TRACKING_ID = process.env.RUNNER_TRACKING_ID;
    if (process.env.RUNBOX_TEST_KEEPER_POLL_MS)
        env.RUNBOX_TEST_KEEPER_POLL_MS = process.env.RUNBOX_TEST_KEEPER_POLL_MS;
    return env;
}
function exitHint(code) {
    if (code === 2)
        return ': bad arguments or lock fds';
    if (code === 3)
        return ': the watched process is not running';
    return '';
}
/**
 * Stops the keeper, which frees its locks. A pid that is not (or no longer) a runbox keeper is
 * never signalled — pids get reused — and counts as 'gone': our keeper has exited already.
 */
async function stopKeeper(pid, opts) {
    if (!isKeeper(pid, opts.watchPid))
        return 'gone';
    // Taken while it is still a keeper: from here on, the same start time means the same process.
    const started = procStat(pid)?.startTime;
    if (started === undefined || !signal(pid, 'SIGTERM'))
        return 'gone';
    if (await waitExited(pid, started, opts.timeoutMs))
        return 'stopped';
    if (signal(pid, 'SIGKILL') && !(await waitExited(pid, started, 5000)))
        throw new Error(`runbox-keeper ${pid} is still running after SIGKILL`);
    return 'stopped';
}
/**
 * `leftovers: wait` with a dir still in use: the keeper hands its locks to a successor that holds
 * them until nothing uses the dirs (see keeper.ts), and exits. 'gone' as for stopKeeper.
 */
async function lingerKeeper(pid, opts) {
    if (!isKeeper(pid, opts.watchPid))
        return 'gone';
    const started = procStat(pid)?.startTime;
    if (started === undefined || !signal(pid, 'SIGUSR2'))
        return 'gone';
    if (!(await waitExited(pid, started, opts.timeoutMs)))
        throw new Error(`runbox-keeper ${pid} did not hand its locks over within ${opts.timeoutMs} ms`);
    return 'lingering';
}
/**
 * Reads /proc/<pid>/cmdline. The keeper sets its title to "runbox-keeper --watch-pid N ..."
 * (one string with spaces); before that it is "node …/keeper.js --watch-pid N ..." (NUL-separated).
 * An exiting process has an empty cmdline too: stopKeeper waits for the exit itself (waitExited).
 */
function isKeeper(pid, watchPid) {
    let cmdline;
    try {
        cmdline = external_node_fs_.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    }
    catch (e) {
        if (errnoOf(e) === 'ENOENT')
            return false;
        throw e;
    }
    const argv = cmdline.split(/[\0 ]+/).filter(Boolean);
    const keeper = argv[0] === 'runbox-keeper' || (argv.slice(0, 2).some((a) => external_node_path_.basename(a) === 'keeper.js') && argv.includes('--watch-pid'));
    if (!keeper)
        return false;
    return watchPid === undefined || argv[argv.indexOf('--watch-pid') + 1] === String(watchPid);
}
/** false when the process no longer exists. */
function signal(pid, sig) {
    try {
        process.kill(pid, sig);
        return true;
    }
    catch (e) {
        if (errnoOf(e) === 'ESRCH')
            return false;
        throw e;
    }
}
/**
 * Waits until the process has let go of its fds, and so of its locks. Not the keeper check:
 * an exiting process drops its memory (and with it /proc/<pid>/cmdline) before it closes its
 * files, and node is multi-threaded: the main thread can be a zombie while worker threads still
 * share the fd table. The locks are free once every thread is a zombie, or the pid is gone or reused.
 */
async function waitExited(pid, startTime, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const st = procStat(pid);
        if (!st || st.startTime !== startTime || allThreadsDead(pid))
            return true;
        if (Date.now() >= deadline)
            return false;
        await new Promise((r) => setTimeout(r, 20));
    }
}
function allThreadsDead(pid) {
    let tids;
    try {
        tids = external_node_fs_.readdirSync(`/proc/${pid}/task`);
    }
    catch (e) {
        if (isErrno(e, 'ENOENT', 'ESRCH'))
            return true;
        throw e;
    }
    return tids.every((tid) => {
        const st = procStat(pid, tid);
        return !st || st.state === 'Z' || st.state === 'X';
    });
}
/** The runner process a holder record names, as /proc shows it now: its pid and start time, for a new record. */
function runnerProcess(pid = process.ppid) {
    return { runnerPid: pid, runnerStart: procStat(pid)?.startTime };
}
/**
 * True while the job that wrote `h` may still use the dir although nothing holds its lock: the
 * record was not released on purpose (by its keeper or main) and its runner process, the same
 * one (start time), still runs. That is a keeper killed on its own; the job's later steps and
 * its post still count on the dir.
 */
function jobStillRuns(h) {
    if (!h || h.released || h.reaping || !h.runnerPid || !h.runnerStart)
        return false;
    const st = procStat(h.runnerPid);
    return st !== undefined && st.state !== 'Z' && st.state !== 'X' && st.startTime === h.runnerStart;
}

;// CONCATENATED MODULE: ./src/dirs/dir-users.ts
// Who on this host uses a dir right now, read from /proc. A free lock says that no runbox job
// holds a dir; it says nothing about a process that outlived its job (a container whose PID 1
// ignored the cancel, a backgrounded build). Those are found here, by what the kernel shows:
//   - in our mount namespace: cwd, root, an open fd or a mapped file under the dir;
//   - in any other mount namespace (containers): a mount whose source is the dir or a path
//     under it, matched by device and path within that filesystem (`/proc/<pid>/mountinfo`
//     fields 3 and 4), since paths inside a container are not host paths.
// A mount of a parent of the dir (a monitoring agent with `-v /:/host`) is deliberately not a
// use: counting it would make every dir on the host "in use" forever.
//
// Dependency-free on purpose: dist/keeper.js bundles it too (`keeper.js --dir-users`), which is
// how a runner that is not root runs the scan as root (other users' fds and cwds are hidden).


const CONTAINER_ID = /(?:docker|libpod|crio|cri-containerd|containerd)[-/]([0-9a-f]{64})/;
function scanDirUsers(dirsIn, opts = {}) {
    const dirs = dirsIn.map((d) => external_node_path_default().resolve(d));
    const out = { users: [], unreadable: 0 };
    if (dirs.length === 0)
        return out;
    const ownMountinfo = readText('/proc/self/mountinfo') ?? '';
    const ownNs = readLink('/proc/self/ns/mnt');
    const refs = new Map(dirs.map((d) => [d, mountRef(d, ownMountinfo)]));
    const me = process.pid;
    for (const name of external_node_fs_default().readdirSync('/proc')) {
        if (!/^\d+$/.test(name))
            continue;
        const pid = Number(name);
        if (pid === me || opts.except?.has(pid))
            continue;
        const startTime = statStartTime(pid);
        if (startTime === undefined)
            continue; // exited meanwhile, or a kernel thread's oddity
        const found = [];
        const ns = readLink(`/proc/${pid}/ns/mnt`);
        const mountinfo = readText(`/proc/${pid}/mountinfo`);
        if (mountinfo === undefined)
            continue; // gone
        // Without the ns link (another user's process, we are not root) the mount table tells.
        const sameNs = ns !== undefined && ownNs !== undefined ? ns === ownNs : mountinfo === ownMountinfo;
        if (sameNs) {
            const paths = processPaths(pid);
            if (paths === undefined)
                out.unreadable++;
            else
                for (const p of paths)
                    for (const d of dirs)
                        if (isAtOrUnder(d, p.path))
                            found.push({ dir: d, how: p.how });
        }
        else {
            for (const d of dirs) {
                const ref = refs.get(d);
                if (ref && mountsOf(mountinfo).some((m) => m.dev === ref.dev && isAtOrUnder(ref.fsPath, m.root)))
                    found.push({ dir: d, how: 'mount' });
            }
        }
        if (found.length === 0)
            continue;
        const command = commandOf(pid);
        const containerId = CONTAINER_ID.exec(readText(`/proc/${pid}/cgroup`) ?? '')?.[1];
        const seen = new Set();
        for (const f of found) {
            if (seen.has(f.dir))
                continue; // one line per process and dir: the first way it uses it
            seen.add(f.dir);
            out.users.push({ pid, startTime, command, dir: f.dir, how: f.how, ...(containerId ? { containerId } : {}) });
        }
    }
    return out;
}
/** The process's cwd, root, fds and mapped files as host paths; undefined when we may not read them. */
function processPaths(pid) {
    const out = [];
    const cwd = readLink(`/proc/${pid}/cwd`);
    if (cwd === undefined)
        return external_node_fs_default().existsSync(`/proc/${pid}`) ? undefined : [];
    out.push({ path: cwd, how: 'cwd' });
    const root = readLink(`/proc/${pid}/root`);
    if (root !== undefined && root !== '/')
        out.push({ path: root, how: 'root' });
    let fds = [];
    try {
        fds = external_node_fs_default().readdirSync(`/proc/${pid}/fd`);
    }
    catch (e) {
        if (denied(e))
            return undefined;
        if (!gone(e))
            throw e;
    }
    for (const fd of fds) {
        const target = readLink(`/proc/${pid}/fd/${fd}`);
        if (target?.startsWith('/'))
            out.push({ path: target, how: 'fd' });
    }
    // The path is the last field, after five fixed ones; it may contain spaces.
    for (const line of (readText(`/proc/${pid}/maps`) ?? '').split('\n')) {
        const m = /^\S+ \S+ \S+ \S+ \d+\s+(\/.*)$/.exec(line);
        if (m)
            out.push({ path: m[1], how: 'mapped file' });
    }
    return out.map((p) => ({ ...p, path: p.path.replace(/ \(deleted\)$/, '') }));
}
function mountsOf(mountinfo) {
    const out = [];
    for (const line of mountinfo.split('\n')) {
        const f = line.split(' ');
        if (f.length < 5)
            continue;
        out.push({ dev: f[2], root: unescapeMountPath(f[3]), mountPoint: unescapeMountPath(f[4]) });
    }
    return out;
}
/** mountinfo escapes space, tab, newline and backslash as \\ooo. */
function unescapeMountPath(s) {
    return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}
/**
 * Where `dir` lives in our own mount table: the mount with the longest mount point containing it
 * (the last one listed wins a tie: it is stacked on top), and the dir's path within that mount's
 * filesystem. A container's bind mount of the dir carries the same device and that path as root.
 */
function mountRef(dir, ownMountinfo) {
    let best;
    for (const m of mountsOf(ownMountinfo))
        if (isAtOrUnder(m.mountPoint, dir) && (!best || m.mountPoint.length >= best.mountPoint.length))
            best = m;
    if (!best)
        return undefined;
    const rel = external_node_path_default().relative(best.mountPoint, dir);
    return { dev: best.dev, fsPath: rel === '' ? best.root : external_node_path_default().posix.join(best.root, rel) };
}
function isAtOrUnder(dir, p) {
    return p === dir || p.startsWith(dir === '/' ? '/' : `${dir}/`);
}
function commandOf(pid) {
    const argv = (readText(`/proc/${pid}/cmdline`) ?? '').split('\0').filter(Boolean).join(' ');
    const cmd = argv || `[${(readText(`/proc/${pid}/comm`) ?? '?').trim()}]`;
    return cmd.length > 120 ? `${cmd.slice(0, 117)}...` : cmd;
}
function statStartTime(pid) {
    const text = readText(`/proc/${pid}/stat`);
    if (text === undefined)
        return undefined;
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19];
}
function readText(p) {
    try {
        return external_node_fs_default().readFileSync(p, 'utf8');
    }
    catch (e) {
        if (gone(e) || denied(e))
            return undefined;
        throw e;
    }
}
function readLink(p) {
    try {
        return external_node_fs_default().readlinkSync(p);
    }
    catch (e) {
        if (gone(e) || denied(e))
            return undefined;
        throw e;
    }
}
// A process can exit between readdir(/proc) and any read of its entries.
function gone(e) {
    const code = e?.code;
    return code === 'ENOENT' || code === 'ESRCH' || code === 'EINVAL';
}
function denied(e) {
    const code = e?.code;
    return code === 'EACCES' || code === 'EPERM';
}

;// CONCATENATED MODULE: ./src/dirs/leftovers.ts
// What a finished job left running in its dirs, and what post does about it. The runner kills a
// cancelled step's process tree, but a container is the Docker daemon's child, not the step's:
// its PID 1 may ignore the signals and keep writing into a dir that the next run of the PR is
// about to get. Post waits for such users (`release-timeout`), then kills them or keeps the
// dirs locked (`leftovers`); the next run and the janitor check for users too (dirs.liveness,
// reap/reaper) since post never runs after a hard kill.





/** Users of `dirs` now. As root in-process; otherwise dist/keeper.js --dir-users through sudo. */
async function findUsers(dirs) {
    if (dirs.length === 0)
        return { users: [], unreadable: 0 };
    const except = new Set([process.pid]);
    if (isRoot())
        return scanDirUsers(dirs, { except });
    try {
        await ensurePrivilege('see which processes use the dirs');
    }
    catch (e) {
        // Mounts (containers) and the runner user's own processes are visible without root.
        core_debug(`runbox: scanning for dir users without root (${errorMessage(e)})`);
        return scanDirUsers(dirs, { except });
    }
    const r = await run(process.execPath, [keeperScript(), '--dir-users', '--except', String(process.pid), '--', ...dirs], { privileged: true });
    return JSON.parse(r.stdout);
}
async function containerNames(users) {
    const ids = [...new Set(users.map((u) => u.containerId).filter((id) => id !== undefined))];
    const out = new Map();
    for (const runtime of ['docker', 'podman']) {
        const missing = ids.filter((id) => !out.has(id));
        if (missing.length === 0)
            break;
        const r = await runtimeCommand(runtime, ['inspect', '--format', '{{.Id}} {{.Name}}', ...missing]);
        for (const line of r?.stdout.split('\n') ?? []) {
            const [id, name] = line.trim().split(' ');
            if (id && name && missing.includes(id))
                out.set(id, { name: name.replace(/^\//, ''), runtime });
        }
    }
    return out;
}
/**
 * A container runtime's CLI as the runner user (in the docker group, say), else as root. undefined
 * when the runtime is not installed or answers neither way; `inspect` of several ids exits
 * non-zero when one is unknown but still prints the others.
 */
async function runtimeCommand(runtime, args) {
    for (const privileged of isRoot() ? [false] : [false, true]) {
        try {
            const r = await run(runtime, args, { allowFailure: true, privileged });
            if (r.stdout.trim() !== '' || r.code === 0)
                return r;
        }
        catch (e) {
            if (e.code === 'ENOENT')
                return undefined;
            throw e;
        }
    }
    return undefined;
}
/** One line per container or process: `container 3f2a... (name): sh -c ... (pid 123, mount of <dir>)`. */
function describeUsers(users, names) {
    const parts = [];
    const byContainer = new Map();
    for (const u of users) {
        if (u.containerId)
            byContainer.set(u.containerId, [...(byContainer.get(u.containerId) ?? []), u]);
        else
            parts.push(`pid ${u.pid} \`${u.command}\` (${u.how} in ${u.dir})`);
    }
    for (const [id, us] of byContainer) {
        const n = names.get(id);
        const pids = [...new Set(us.map((u) => u.pid))];
        const dirs = [...new Set(us.map((u) => u.dir))];
        parts.unshift(`container ${id.slice(0, 12)}${n ? ` (${n.name})` : ''}: pid ${pids.slice(0, 3).join(', ')}${pids.length > 3 ? ` and ${pids.length - 3} more` : ''} \`${us[0].command}\` (${us[0].how} of ${dirs.join(', ')})`);
    }
    return parts.join('; ');
}
/** Polls until nothing uses `dirs` or the deadline passes; returns who still does. */
async function waitUnused(dirs, deadline, pollMs = 1000) {
    for (;;) {
        const { users } = await findUsers(dirs);
        if (users.length === 0 || Date.now() >= deadline)
            return users;
        await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(0, deadline - Date.now()))));
    }
}
/**
 * Kills what still uses the dirs: a container through its runtime (so `--rm` removes it and the
 * runtime knows it ended), any other process with SIGKILL after checking it is still the same
 * process (pid and start time). Returns who still uses the dirs after a short wait.
 */
async function killUsers(dirs, users, names) {
    const containers = [...new Set(users.map((u) => u.containerId).filter((id) => id !== undefined))];
    for (const id of containers) {
        const runtime = names.get(id)?.runtime ?? 'docker';
        const r = await runtimeCommand(runtime, ['kill', id]);
        if (!r || r.code !== 0)
            core_warning(`runbox: could not kill container ${id.slice(0, 12)} with ${runtime}; killing its processes`);
    }
    // The runtime reaps its container's processes within a moment; what is left then (a process
    // outside any container, or a container its runtime would not kill) gets SIGKILL, but only a
    // process seen before (same pid and start time) or of the same container: pids get reused.
    const known = new Set(users.map((u) => `${u.pid}/${u.startTime}`));
    const current = await waitUnused(dirs, Date.now() + (containers.length > 0 ? 5000 : 0), 250);
    const pids = [...new Set(current.filter((u) => known.has(`${u.pid}/${u.startTime}`) || (u.containerId && containers.includes(u.containerId))).map((u) => u.pid))];
    if (pids.length > 0) {
        const r = await run('kill', ['-KILL', ...pids.map(String)], { privileged: !isRoot(), allowFailure: true });
        if (r.code !== 0)
            core_warning(`runbox: kill -KILL ${pids.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
    }
    return waitUnused(dirs, Date.now() + 10_000, 250);
}
/**
 * Post, before it removes or releases any dir: wait up to `timeoutSec` for whatever still uses
 * them, then kill it or leave it (the caller keeps the dirs locked). Says what it did in the
 * log and in `report`.
 */
async function settleLeftovers(dirs, opts, report) {
    const first = await findUsers(dirs);
    if (first.unreadable > 0)
        info(`runbox: ${first.unreadable} process(es) could not be checked for use of this job's dirs (no root rights)`);
    if (first.users.length === 0)
        return { remaining: [] };
    const names = await containerNames(first.users);
    const what = describeUsers(first.users, names);
    info(`runbox: this job's dirs are still in use; waiting up to ${opts.timeoutSec} s (release-timeout) before they are released: ${what}`);
    const t0 = Date.now();
    const left = await waitUnused(dirs, t0 + opts.timeoutSec * 1000);
    const waited = Math.round((Date.now() - t0) / 1000);
    if (left.length === 0) {
        report.add('waited', `${waited} s until nothing used the dirs any more: ${what}`);
        return { remaining: [] };
    }
    const leftNames = await containerNames(left);
    const leftWhat = describeUsers(left, leftNames);
    if (opts.mode === 'wait') {
        const msg = `still in use after ${waited} s (leftovers: wait), the dirs stay locked until it ends: ${leftWhat}`;
        core_warning(`runbox: ${msg}`);
        report.add('left locked', msg);
        return { remaining: left };
    }
    info(`runbox: killing what still uses this job's dirs after ${waited} s (leftovers: kill): ${leftWhat}`);
    const after = await killUsers(dirs, left, leftNames);
    report.add('killed', `after waiting ${waited} s: ${leftWhat}`);
    if (after.length > 0) {
        const msg = `could not stop everything that uses the dirs; they stay locked until it ends: ${describeUsers(after, await containerNames(after))}`;
        core_warning(`runbox: ${msg}`);
        report.add('left locked', msg);
    }
    return { remaining: after };
}

;// CONCATENATED MODULE: ./src/dirs/liveness.ts
// Holds this run's dirs under flock(2) locks from main until post: liveness is a lock the kernel
// keeps, so the janitor, the disk guard and the next run of the same PR can tell a live dir from
// a dead one without guessing. Lock files sit beside the dirs they guard (`<dir>.lock`).











function lockPathOf(dir) {
    return `${dir}${LOCK_SUFFIX}`;
}
/** The dirs whose lock a run holds: its run dir (covering all `run` dirs) and each `pr` dir. */
function guardedDirs(layout, specs) {
    const out = [];
    if (specs.some((s) => s.scope === 'run'))
        out.push(layout.runDir);
    for (const s of specs)
        if (s.scope === 'pr')
            out.push(dirPath(layout, s));
    return out;
}
/** A run dir's lock is only ever taken briefly by others: a janitor probing it, or removing it as an orphan. */
const RUN_LOCK_WAIT_SEC = 10;
const FORGET_WAIT_SEC = 5;
/** How often a waiter looks again at a free lock whose job still runs (its keeper died). */
const ORPHAN_POLL_MS = 1000;
/** How often a waiting run says it is still waiting: often enough that a log never looks hung. */
function progressEverySec() {
    // Test-only: the tests cannot wait 30 s for each line.
    const t = Number(process.env.RUNBOX_TEST_WAIT_PROGRESS_SEC);
    return Number.isFinite(t) && t > 0 ? t : 30;
}
/**
 * A holder that is this same job (same run, attempt, job and runner) is another runbox step of
 * this job: it holds the lock until its post, which runs after this step, so waiting can only
 * end in the timeout.
 */
function sameJob(h, me) {
    return h !== undefined && h.runId === me.runId && h.runAttempt === me.runAttempt && h.job === me.job && h.runner === me.runner;
}
/**
 * Takes every lock before any guarded dir is created or used. A run dir is unique to this run,
 * so its lock is never legitimately held by anyone else; `pr` dirs are waited for.
 *
 * Order and budget: the run dir first, then the `pr` dirs sorted by path, the one order every
 * run uses, so two runs listing the same `pr` dirs in different orders cannot each hold one and
 * wait for the other. `lock-timeout` is one deadline for all the `pr` dirs together, not a
 * fresh wait per dir.
 */
async function lockDirs(dirs, ctx, runner, lockTimeoutSec, waits = []) {
    const holder = {
        runId: ctx.runId,
        runAttempt: ctx.runAttempt,
        runner: ctx.runnerName,
        job: ctx.job,
        pid: process.pid,
        since: new Date().toISOString(),
        ...runnerProcess(),
        token: external_node_crypto_default().randomBytes(8).toString('hex')
    };
    const isRunDir = (d) => external_node_path_default().basename(d).startsWith(RUN_DIR_PREFIX);
    const ordered = [...dirs.filter(isRunDir), ...dirs.filter((d) => !isRunDir(d)).sort()];
    const deadline = Date.now() + lockTimeoutSec * 1000;
    const held = [];
    try {
        for (const dir of ordered) {
            const timeoutSec = () => (isRunDir(dir) ? RUN_LOCK_WAIT_SEC : Math.max(0, (deadline - Date.now()) / 1000));
            const started = Date.now();
            const seen = {};
            const lock = await lockLiveFree(dir, runner, timeoutSec, lockTimeoutSec, holder, seen);
            const waitedSec = (Date.now() - started) / 1000;
            if (!isRunDir(dir) && waitedSec >= 1)
                waits.push({ dir, waitedSec, ...(seen.holder ? { holder: `run ${seen.holder.runId} (${seen.holder.runner})` } : {}) });
            if (lock.writeHolder({ ...holder, since: new Date().toISOString() }) === false)
                core_debug(`runbox: ${lock.path} is read-only to this user; no holder record written`);
            held.push(lock);
            // A new run dir has no users; a pr dir's lock is free also when its last job was hard-killed
            // (no post) with a container still writing into it.
            if (!isRunDir(dir))
                await waitForNoUsers(dir, lockTimeoutSec, deadline);
        }
        return { locks: held, token: holder.token };
    }
    catch (e) {
        for (const l of held)
            releaseMarked(l);
        if (e instanceof LockTimeoutError && e.timeoutSec > 0 && !external_node_path_default().basename(e.path).startsWith(RUN_DIR_PREFIX))
            throw new Error(`${e.message} (lock-timeout). Runs of one PR use a pr dir one at a time: raise 'lock-timeout' if that run is just slow, or cancel it if it is stuck`);
        throw e;
    }
}
async function sayUsers(dir, prefix) {
    try {
        const { users } = await findUsers([dir]);
        if (users.length > 0)
            info(`${dir}: ${prefix} ${describeUsers(users, await containerNames(users))}`);
    }
    catch (e) {
        // Only a log line is lost; the lock wait goes on regardless.
        core_debug(`runbox: could not list the users of ${dir}: ${errorMessage(e)}`);
    }
}
/** Holding the dir's lock: waits until no process uses it, up to the dir's lock-timeout budget. */
async function waitForNoUsers(dir, timeoutSec, deadline) {
    const { users } = await findUsers([dir]);
    if (users.length === 0)
        return;
    info(`waiting for ${dir}: its lock is free, but it is still used by ${describeUsers(users, await containerNames(users))}; giving up after ${timeoutSec} s`);
    const left = await waitUnused([dir], deadline);
    if (left.length > 0)
        throw new Error(`${dir} is still used by ${describeUsers(left, await containerNames(left))}, left behind by an earlier job; gave up after ${timeoutSec}s (lock-timeout). ` +
            'Stop it (e.g. `docker kill <container>`), or let post stop such leftovers (leftovers: kill)');
}
/**
 * The lock of `dir`, once it is free and no job still counts on the dir: a free lock whose record
 * names a job whose runner still runs (its keeper was killed alone) is not taken. A dir whose
 * reap was cut short (a janitor cancelled mid-delete) is deleted first, under our lock.
 */
async function lockLiveFree(dir, runner, timeoutSec, budgetSec, me, seen) {
    const pr = !external_node_path_default().basename(dir).startsWith(RUN_DIR_PREFIX);
    let lastProgress = 0;
    let toldOrphan = false;
    for (;;) {
        const t = timeoutSec();
        let lock;
        try {
            lock = await acquireInKeyDir(dir, runner, {
                timeoutSec: t,
                onWait: (h) => {
                    if (pr && sameJob(h, me))
                        throw new Error(`${dir} is held by an earlier runbox step of this same job (run ${me.runId}, job ${me.job}), which keeps it until the job ends: ` +
                            `waiting would only time out. Use one runbox step per job, or list each dir in one step only`);
                    seen.holder = h;
                    info(`waiting for ${dir}: ${describeHolder(h)}; giving up after ${Math.round(t)} s`);
                    // The holder may be a finished job's keeper kept for its leftovers (leftovers: wait).
                    if (pr)
                        void sayUsers(dir, 'it is in use by');
                },
                onStillWaiting: (h, waitedSec) => {
                    seen.holder = h ?? seen.holder;
                    if (waitedSec - lastProgress < progressEverySec())
                        return;
                    lastProgress = waitedSec;
                    info(`still waiting for ${dir}: ${describeHolder(h)}, ${Math.round(waitedSec)} s of ${budgetSec}`);
                }
            });
        }
        catch (e) {
            // Named with the whole budget: what is left of it for this dir is no figure the user set.
            if (e instanceof LockTimeoutError && !external_node_path_default().basename(dir).startsWith(RUN_DIR_PREFIX))
                throw new LockTimeoutError(e.path, e.holder, budgetSec);
            throw e;
        }
        const h = readHolder(lock.path);
        if (jobStillRuns(h)) {
            lock.release();
            const why = `its keeper is gone but its job still runs (run ${h?.runId} (${h?.runner}), runner pid ${h?.runnerPid})`;
            if (timeoutSec() <= 0)
                throw new Error(`Lock ${lockPathOf(dir)} is free, but ${why}; gave up after ${budgetSec}s`);
            if (!toldOrphan)
                info(`waiting for ${dir}: ${why}; giving up after ${Math.round(timeoutSec())} s`);
            toldOrphan = true;
            await new Promise((r) => setTimeout(r, Math.min(ORPHAN_POLL_MS, timeoutSec() * 1000)));
            continue;
        }
        if (h?.reaping && external_node_fs_default().lstatSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
            info(`runbox: ${dir}: a janitor's delete (since ${h.reaping}) was cut short; finishing it before this run starts the dir afresh`);
            try {
                // The same check as every other delete: a real dir inside base-dir (<base>/<ref-key>/<name>), no symlink on the way.
                assertOwnedSubdir(dir, external_node_path_default().dirname(external_node_path_default().dirname(dir)));
                await removeTree(dir, { holdFd: lock.fd });
            }
            catch (e) {
                lock.release();
                throw e;
            }
        }
        return lock;
    }
}
/**
 * acquireLock in the key dir (`<base>/<ref-key>`), which a janitor may remove the moment it is
 * empty: made again (without re-chowning a shared parent) when it vanished before our lock
 * file was in it.
 */
async function acquireInKeyDir(dir, runner, opts) {
    for (let attempt = 1;; attempt++) {
        await ensureDir(external_node_path_default().dirname(dir), runner, { shared: true });
        try {
            return await acquireLock(lockPathOf(dir), opts);
        }
        catch (e) {
            if (e.code !== 'ENOENT' || attempt >= 5)
                throw e;
        }
    }
}
/** Releases a lock this process holds, first marking its record released (the job lets go on purpose). */
function releaseMarked(lock) {
    const h = readHolder(lock.path);
    if (h && !h.released)
        lock.writeHolder({ ...h, released: new Date().toISOString() });
    lock.release();
}
/** Hands the locks to a detached keeper that holds them until post or until the runner worker dies. */
async function handOver(locks) {
    if (locks.length === 0)
        return undefined;
    const { pid } = await startKeeper(locks, { watchPid: process.ppid });
    return pid;
}
/** True when `pid` is this job's keeper, still running (it watches our runner process). */
function keeperRunning(pid) {
    return pid !== undefined && isKeeper(pid, process.ppid);
}
async function releaseKeeper(pid) {
    if (pid === undefined)
        return 'none';
    return stopKeeper(pid, { timeoutMs: 5000, watchPid: process.ppid });
}
/** Keeps the locks held after the job, until nothing uses the dirs (see keeper.ts, --linger). */
async function keepLockedForLeftovers(pid) {
    if (pid === undefined)
        return 'none';
    return lingerKeeper(pid, { timeoutMs: 15000, watchPid: process.ppid });
}
/**
 * A run dir is never reused, so once it is gone its lock file goes too. Taken first, so a
 * janitor that reached it at the same moment either did the job already or finds nothing.
 */
const RUN_TEARDOWN_WAIT_SEC = FORGET_WAIT_SEC;
async function forgetRunLock(runDir) {
    // Main may have failed before it made the lock (base-dir could not be created): nothing to
    // forget, and taking the lock would create a file in a dir that does not exist.
    if (!external_node_fs_default().existsSync(lockPathOf(runDir)))
        return;
    // A short wait: a janitor probing it holds it for an instant, and an exiting keeper's last
    // thread may still be closing its files.
    let lock;
    try {
        lock = await acquireLock(lockPathOf(runDir), { timeoutSec: FORGET_WAIT_SEC });
    }
    catch (e) {
        if (e instanceof LockTimeoutError)
            return; // the next janitor removes it as an orphan
        throw e;
    }
    if (external_node_fs_default().existsSync(runDir))
        lock.release();
    else
        removeLockFile(lock);
}
/**
 * Post, when this job's keeper is not there to stop: what became of each lock, read from the
 * holder records rather than by taking free locks (a second post must not grab a lock the next
 * run is about to take). A record of ours never released means the keeper died alone: the dir
 * stayed reserved through the runner process, and post releases it now, under the lock.
 */
async function settleLocks(paths, token) {
    const out = [];
    for (const p of paths) {
        const h = external_node_fs_default().existsSync(p) ? readHolder(p) : undefined;
        if (!h || !token)
            out.push({ path: p, state: 'unknown' });
        else if (h.token !== token)
            out.push({ path: p, state: 'taken', by: describeHolder(h) });
        else if (h.released)
            out.push({ path: p, state: 'released' });
        else {
            let lock;
            try {
                lock = await acquireLock(p, { timeoutSec: FORGET_WAIT_SEC });
            }
            catch (e) {
                if (!(e instanceof LockTimeoutError))
                    throw e;
                out.push({ path: p, state: 'taken', by: describeHolder(e.holder) });
                continue;
            }
            const now = readHolder(p);
            if (now?.token === token)
                releaseMarked(lock);
            else
                lock.release();
            out.push({ path: p, state: 'keeper-died' });
        }
    }
    return out;
}

;// CONCATENATED MODULE: ./src/common/untrusted-text.ts
// Strings that come from a cache entry or a manifest are written by whoever could write the
// entry. core.info writes its message raw to stdout, where a line starting with `::` is a
// workflow command to the runner (`::add-mask::`, `::stop-commands::`, `::error file=...::`);
// core.warning/error escape newlines but keep everything else. So every such string goes
// through shown() before it reaches a log line or the summary.
/** How much of an untrusted string is shown. */
const SHOWN_MAX = 200;
/**
 * A single-line, quoted, bounded rendering of `s`: control characters, newlines, quotes and
 * backslashes escaped, longer strings cut (the cut said), and never a line beginning with `::`
 * (the opening quote comes first). `<`, `>` and `&` are escaped too: the summary is HTML.
 */
function shown(s, max = SHOWN_MAX) {
    const { text, cut } = untrusted_text_escape(s, max);
    return `"${text}"${cut}`;
}
/**
 * shown() without the quotes, for messages that quote a name themselves (`member '...'`).
 */
function escapedText(s, max = SHOWN_MAX) {
    const { text, cut } = untrusted_text_escape(s, max);
    return `${text}${cut}`;
}
/** The escaped text, and the note that says it was cut (empty when it was not). */
function untrusted_text_escape(s, max) {
    const text = typeof s === 'string' ? s : String(s);
    const cut = [...text];
    const body = cut.length > max ? cut.slice(0, max).join('') : text;
    const escaped = body.replace(/[\\"<>&\u0000-\u001f\u007f-\u009f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]/gu, (c) => {
        if (c === '\\')
            return '\\\\';
        if (c === '"')
            return '\\"';
        if (c === '\n')
            return '\\n';
        if (c === '\r')
            return '\\r';
        if (c === '\t')
            return '\\t';
        return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    });
    return { text: escaped, cut: cut.length > max ? `... (${cut.length} characters)` : '' };
}
/**
 * For a whole log line that may carry untrusted text somewhere inside: no line breaks (each
 * line of a multi-line message could start a command), and no line that, trimmed as the runner
 * trims it, starts a command (`::name::` or the older `##[name]`).
 */
function oneLine(s) {
    const flat = s.replace(/\r\n|[\r\n\u2028\u2029\u0085]/g, ' ⏎ ');
    return /^\s*(::|##\[)/.test(flat) ? `runbox: ${flat}` : flat;
}

;// CONCATENATED MODULE: ./src/action/job-summary.ts
// A step's job summary: short, factual, one table of what happened. Written once at the end
// of the step (also on failure) so a reader sees what runbox created, reaped, restored or saved.


class StepReport {
    title;
    rows = [];
    notes = [];
    failure;
    constructor(title) {
        this.title = title;
    }
    add(what, detail) {
        this.rows.push({ what, detail });
        // Details carry keys and error messages that may come from a cache entry: untrusted strings
        // should arrive through shown() already; this keeps a missed one from starting a command line.
        info(oneLine(`${what}: ${detail}`));
    }
    /**
     * The step failed: the summary leads with the error (it names what failed and the fix), so a
     * reader of the summary alone never sees a failed step as one that had nothing to do.
     */
    fail(message) {
        this.failure = message;
    }
    note(text) {
        this.notes.push(text);
    }
    get entries() {
        return this.rows;
    }
    async write() {
        if (!process.env.GITHUB_STEP_SUMMARY)
            return;
        const s = summary.addHeading(this.title, 3);
        if (this.failure !== undefined)
            s.addRaw(`<p><strong>failed:</strong> ${html(this.failure)}</p>`, true);
        if (this.rows.length > 0)
            s.addTable([
                [
                    { data: 'what', header: true },
                    { data: 'detail', header: true }
                ],
                ...this.rows.map((r) => [html(r.what), html(r.detail)])
            ]);
        else if (this.failure === undefined)
            s.addRaw('Nothing to do.', true);
        for (const n of this.notes)
            s.addRaw(`\n\n${n}`, true);
        await s.write();
    }
}
/**
 * The summary is HTML: a row is text, never markup (details may quote a cache entry). On one
 * line, too: a blank line ends GFM's HTML block, and what follows it would render as markdown
 * (an image or link the entry's writer chose, below a table that looks like runbox's).
 */
function html(s) {
    return s
        .replace(/&/g, '&amp;')
        .replace(/</g, '&lt;')
        .replace(/>/g, '&gt;')
        .replace(/\r\n|[\r\n\u2028\u2029\u0085]/g, ' ⏎ ');
}
function formatBytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = n;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) {
        v /= 1024;
        i++;
    }
    return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}
function formatSeconds(ms) {
    return `${(ms / 1000).toFixed(1)} s`;
}

;// CONCATENATED MODULE: ./src/dirs/scan.ts
// The one read of the on-disk layout (layout.ts) that the janitor, the disk guard and warm share:
// the dirs of one key dir (`<base>/<key>`), each with its `<dir>.lock` sibling, and the lock files
// whose dir is gone. A read-only, lock-free scan: whoever acts on an entry re-checks it under the
// entry's lock. One policy for what it cannot trust or see:
// - it never follows a symlink: a symlinked dir or lock file is skipped, with the reason;
// - what it may not read (EACCES: another runner user's 0700 dir) is skipped as in use by someone
//   it cannot see, never taken as empty or missing, so nothing acts on it;
// - what vanished meanwhile (ENOENT, ENOTDIR: a concurrent reap) is simply not there.




const SYMLINK_DIR = 'it is a symlink, and runbox only manages real directories';
const SYMLINK_FILE = 'it is a symlink, and runbox only manages real files';
const UNREADABLE = 'it is not readable';
/** lstat under the scan's policy: undefined when gone, `unreadable` on EACCES. */
function look(p) {
    try {
        return { st: external_node_fs_default().lstatSync(p) };
    }
    catch (e) {
        const code = errnoOf(e);
        if (code === 'ENOENT' || code === 'ENOTDIR')
            return undefined;
        if (code === 'EACCES')
            return { unreadable: true };
        throw e;
    }
}
/** Entry names, sorted; undefined when the dir is gone, `unreadable` when we may not list it. */
function listNames(dir) {
    try {
        return external_node_fs_default().readdirSync(dir).sort();
    }
    catch (e) {
        const code = errnoOf(e);
        if (code === 'ENOENT' || code === 'ENOTDIR')
            return undefined;
        if (code === 'EACCES')
            return 'unreadable';
        throw e;
    }
}
/**
 * The dirs and orphan lock files directly in `keyDir`. Nothing is descended into. Entries that are
 * neither (files, sockets, lock files that are not regular files beside a real dir) are ignored.
 * undefined when `keyDir` itself is gone; an unreadable `keyDir` comes back as one skipped entry.
 */
function scanKeyDir(keyDir) {
    const names = listNames(keyDir);
    if (names === undefined)
        return undefined;
    const out = { dirs: [], orphanLocks: [], skipped: [] };
    if (names === 'unreadable') {
        out.skipped.push({ path: keyDir, reason: UNREADABLE });
        return out;
    }
    const present = new Set(names);
    for (const name of names) {
        const p = external_node_path_default().join(keyDir, name);
        if (name.endsWith(LOCK_SUFFIX) && name.length > LOCK_SUFFIX.length) {
            // Its dir's entry decides what happens to it; only a lock without any dir is handled here.
            if (present.has(name.slice(0, -LOCK_SUFFIX.length)))
                continue;
            const seen = look(p);
            if (!seen)
                continue;
            if ('unreadable' in seen)
                out.skipped.push({ path: p, reason: UNREADABLE });
            else if (seen.st.isSymbolicLink())
                out.skipped.push({ path: p, reason: SYMLINK_FILE });
            else if (seen.st.isFile())
                out.orphanLocks.push(p);
            continue;
        }
        const seen = look(p);
        if (!seen)
            continue;
        if ('unreadable' in seen) {
            out.skipped.push({ path: p, reason: UNREADABLE });
            continue;
        }
        if (seen.st.isSymbolicLink()) {
            out.skipped.push({ path: p, reason: SYMLINK_DIR });
            continue;
        }
        if (!seen.st.isDirectory())
            continue;
        const lockPath = p + LOCK_SUFFIX;
        const lock = present.has(name + LOCK_SUFFIX) ? look(lockPath) : undefined;
        if (lock && 'unreadable' in lock) {
            out.skipped.push({ path: lockPath, reason: UNREADABLE });
            continue;
        }
        if (lock?.st.isSymbolicLink()) {
            // Opening it to lock would follow it, possibly out of base-dir.
            out.skipped.push({ path: lockPath, reason: SYMLINK_FILE });
            continue;
        }
        if (lock && !lock.st.isFile())
            continue;
        out.dirs.push({ path: p, lockPath, isRun: name.startsWith(RUN_DIR_PREFIX), dirStat: seen.st, lockStat: lock?.st });
    }
    return out;
}
/** The key dirs of `baseDir` (`<base>/<key>`), under the same policy; undefined when `baseDir` is gone. */
function scanBaseKeys(baseDir) {
    let names;
    try {
        names = external_node_fs_default().readdirSync(baseDir).sort();
    }
    catch (e) {
        // No base-dir yet. One we may not list is a misconfiguration to report, not a dir in use.
        if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR')
            return undefined;
        throw e;
    }
    const out = { keyDirs: [], skipped: [] };
    for (const name of names) {
        const p = external_node_path_default().join(baseDir, name);
        const seen = look(p);
        if (!seen)
            continue;
        if ('unreadable' in seen)
            out.skipped.push({ path: p, reason: UNREADABLE });
        else if (seen.st.isSymbolicLink())
            out.skipped.push({ path: p, reason: SYMLINK_DIR });
        else if (seen.st.isDirectory())
            out.keyDirs.push(p);
    }
    return out;
}

;// CONCATENATED MODULE: ./src/reap/candidates.ts
// What under base-dir could be reaped: a read-only scan, no locking. Everything it returns is
// re-checked under the dir's lock by the reaper, so the scan only has to be conservative about
// what it offers, never authoritative about whether it is still free.
//
// The on-disk contract (main creates it; dirs/layout.ts):
//   <base>/<ref-key>/run-<run>-<attempt>-<job-key>/   + sibling run-<...>.lock   (kind 'run')
//   <base>/<pr-key>/<NAME>/                           + sibling <NAME>.lock     (kind 'pr')
// Only depth 2 is looked at, through the one scanner of that layout (dirs/scan.ts): nothing is
// descended into, no symlink is followed, and what runbox may not read is left alone.





function scanBaseDir(baseDirIn) {
    // Absolute and normalised, so candidate paths compare equal to what the reaper checks.
    const baseDir = external_node_path_default().resolve(baseDirIn);
    const out = { candidates: [], orphanLocks: [], skipped: [] };
    const skip = (s) => {
        out.skipped.push(s);
        core_warning(`runbox: leaving ${s.path} alone: ${s.reason}`);
    };
    const top = scanBaseKeys(baseDir);
    if (top === undefined)
        return out;
    // In name order, skipped key dirs among the others: every janitor walks base-dir the same way.
    const keys = [...top.skipped.map((s) => ({ path: s.path, skipped: s })), ...top.keyDirs.map((k) => ({ path: k, skipped: undefined }))];
    keys.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const { path: keyDir, skipped } of keys) {
        if (skipped) {
            skip(skipped);
            continue;
        }
        const scan = scanKeyDir(keyDir);
        if (scan === undefined)
            continue;
        scan.skipped.forEach(skip);
        out.orphanLocks.push(...scan.orphanLocks);
        for (const d of scan.dirs) {
            // No lock and not named run-*: someone else's dir that happens to sit in base-dir.
            if (!d.lockStat && !d.isRun)
                continue;
            out.candidates.push({
                path: d.path,
                lockPath: d.lockPath,
                kind: d.isRun ? 'run' : 'pr',
                lastUse: d.lockStat ? d.lockStat.mtime : d.dirStat.mtime,
                hasLock: d.lockStat !== undefined
            });
        }
    }
    out.candidates.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    out.orphanLocks.sort();
    return out;
}

;// CONCATENATED MODULE: ./src/lock/claim.ts
// Claiming a dead dir: the one way the janitor, the disk guard (reap/reaper.ts) and warm
// (dirs/warm.ts) take a `<dir>` guarded by `<dir>.lock` that no run holds. Whoever claims it may
// delete it or copy from it: no run can start using it until the claim is let go, since a run
// that wants it blocks on the lock.
//
// The callers found the dir by a lock-free scan, so everything the scan saw is re-checked here,
// under the lock, never through a symlink (lstat of the paths, fstat of our fd):
// - tryLock only, never waiting: a held lock means a live run (or another claimer) has it;
// - the dir (and its parent) must still be real directories: one replaced by a symlink since the
//   scan is never followed, and one gone since (reaped by someone else) leaves a lock file that
//   our tryLock may have recreated on the freed name, which is removed again;
// - the lock path must still name the inode we hold: a lock on a file unlinked or replaced since
//   guards nothing.





/** Takes `dir`'s lock if nobody holds it and re-verifies `dir` under it; otherwise says why not. */
async function claimDeadDir(dir, lockPath, opts) {
    const look = (p) => lstatOrUndefined(p, { hiddenIsMissing: opts.hiddenIsMissing === true });
    const lockBefore = look(lockPath);
    if (lockBefore && !lockBefore.isFile())
        return { skipped: 'its lock path is not a regular file', inUse: false };
    if (!look(dir))
        return { skipped: 'it is gone', inUse: false };
    if (!lockBefore && opts.withoutLockFile !== 'create')
        return { skipped: opts.withoutLockFile.skip, inUse: false };
    let held;
    try {
        held = await tryLock(lockPath);
    }
    catch (e) {
        // Its parent went away (a concurrent reap), or another runner user's lock file we may not open.
        if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'EACCES')
            return { skipped: `its lock file cannot be opened (${errnoOf(e)})`, inUse: true };
        throw e;
    }
    if (!held)
        return { skipped: 'its lock is held', inUse: true };
    const lock = held;
    let claimed = false;
    try {
        opts.onLocked?.();
        const parentSt = look(external_node_path_default().dirname(dir));
        if (!parentSt?.isDirectory())
            return { skipped: 'its parent is not a real directory', inUse: false };
        const dirStat = look(dir);
        if (!dirStat) {
            // Gone between the check above and our lock: reaped by someone else, and the lock file we
            // hold is usually one our tryLock recreated on the freed name. Nobody uses it (we hold it):
            // remove it again, so that no orphan is left behind.
            claimed = true;
            removeLockFileQuietly(lock);
            return { skipped: 'it is gone (reaped by someone else)', inUse: false };
        }
        if (dirStat.isSymbolicLink())
            return { skipped: 'it is now a symlink', inUse: false };
        if (!dirStat.isDirectory())
            return { skipped: 'it is no longer a directory', inUse: false };
        const lockStat = external_node_fs_default().fstatSync(lock.fd);
        const atPath = look(lockPath);
        if (!atPath || atPath.ino !== lockStat.ino || atPath.dev !== lockStat.dev)
            return { skipped: 'its lock file was replaced', inUse: false };
        claimed = true;
        let open = true;
        return {
            claimed: {
                path: dir,
                lock,
                dirStat,
                lockStat,
                createdLockFile: !lockBefore,
                release() {
                    open = false;
                    lock.release();
                },
                releaseAndRemoveLockFile() {
                    if (!open)
                        return false;
                    open = false;
                    return removeLockFileQuietly(lock);
                }
            }
        };
    }
    finally {
        if (!claimed)
            lock.release();
    }
}
/** removeLockFile (which releases in every case), tolerating a parent dir the runner user may not write to. */
function removeLockFileQuietly(held) {
    try {
        return removeLockFile(held);
    }
    catch (e) {
        if (errnoOf(e) !== 'EACCES' && errnoOf(e) !== 'EPERM')
            throw e;
        core_warning(`runbox: could not remove the lock file ${held.path} (${errnoOf(e)}); it is free and harmless, a janitor with more rights will remove it`);
        return false;
    }
}

;// CONCATENATED MODULE: ./src/reap/reaper.ts
// Deletes one dir under its lock. The order is what makes it safe against live runs, other
// janitors and waiters:
//
//   1. claimDeadDir (lock/claim.ts, shared with warm): tryLock(<dir>.lock), never waiting (a held
//      lock means a live run or another reaper uses it, so it is skipped, not queued for), then
//      re-verify under the lock: the scan was lock-free, so by now the dir may be gone (another
//      janitor reaped it: we then hold a lock file we just recreated and remove it again), may
//      have turned into a symlink, and the lock file must still be the inode we hold.
//   2. Here, still under the lock: the dir may have been used again (its last use is re-read),
//      its job may still run, a process may still use it.
//   3. Measure (treeBytes), then delete (removeTree) while holding the lock, so that no run can
//      start using the dir mid-delete: a run that wants it blocks on the lock. rm inherits the
//      lock fd, so the lock outlives a reaper killed mid-delete until rm is done; a reaper that
//      is cancelled stops rm (sys/exec stopChildren) and starts nothing after it, and the
//      `reaping` mark it wrote first makes the next taker (janitor or run) finish the delete.
//      A free lock whose record names a job whose runner still runs is not free: that job's
//      keeper died alone (lock/keeper-client.ts jobStillRuns).
//   4. removeLockFile(held): unlink the lock path, then release. A waiter blocked on the old inode
//      gets it, sees that the path no longer names it, and retries on a fresh lock file; by then
//      the dir is gone, so it provisions a new one. Unlinking before the delete instead would let
//      a newcomer lock a fresh file and start using a half-deleted dir.












/**
 * A `run-*` dir without a lock file is only reaped once it is this old, whatever the caller's
 * age limit (the disk guard has none). A main that makes the dir a moment before locking it must
 * not lose it to a disk guard on a sibling runner in between.
 */
const LEFTOVER_GRACE_MS = 60_000;
/** Reaps `c` if it is free and still qualifies; otherwise says why it was kept. */
async function tryReapDir(c, opts) {
    checkShape(c.path, c.lockPath, opts.baseDir);
    const now = opts.now ?? new Date();
    // A dir without a lock file is only ours when it is a run dir (see candidates.ts).
    const withoutLockFile = external_node_path_default().basename(c.path).startsWith(RUN_DIR_PREFIX) ? 'create' : { skip: 'it has no lock file and is not a run dir' };
    const claim = await claimDeadDir(c.path, c.lockPath, { withoutLockFile });
    if (!claim.claimed)
        return claim;
    const claimed = claim.claimed;
    const { dirStat: dirSt, lockStat: lockSt, createdLockFile } = claimed;
    let handedOver = false;
    try {
        // Does the real path stay inside base-dir? Throws otherwise: that is an anomaly to report.
        assertOwnedSubdir(c.path, opts.baseDir);
        const holder = readHolder(c.lockPath);
        if (jobStillRuns(holder))
            return { skipped: `its keeper is gone but its job still runs (run ${holder?.runId}, runner pid ${holder?.runnerPid})`, inUse: true };
        // An empty lock file that was not there before our tryLock was created by us (or by a main
        // that died before writing its holder info): its mtime says nothing about use, the dir's does.
        const leftover = createdLockFile && lockSt.size === 0;
        const lastUse = leftover ? dirSt.mtime : lockSt.mtime;
        // A delete cut short is finished whatever the age: the dir is half gone, nobody wants it.
        const cutShort = holder?.reaping !== undefined;
        if (!cutShort && opts.idleBefore && lastUse.getTime() > opts.idleBefore.getTime())
            return { skipped: `it was used at ${lastUse.toISOString()}`, inUse: false };
        if (leftover && now.getTime() - dirSt.mtime.getTime() < LEFTOVER_GRACE_MS)
            return { skipped: 'it has no lock file yet and was made less than a minute ago', inUse: false };
        if (isStopping())
            return { skipped: 'the step is being cancelled; left for the next janitor', inUse: false };
        // A free lock only says no job holds it: a container a hard-killed job left may still write here.
        const { users } = await findUsers([c.path]);
        if (users.length > 0) {
            const skipped = `it is still used by ${describeUsers(users, await containerNames(users))}`;
            info(`runbox: not reaping ${c.path}: ${skipped}`);
            return { skipped, inUse: true };
        }
        const bytes = await treeBytes(c.path);
        if (isStopping())
            return { skipped: 'the step is being cancelled; left for the next janitor', inUse: false };
        // From here a cut-short delete is marked, for whoever takes the lock next. The record is
        // the last holder's, with the mark added: a waiter then names a janitor, not a finished run.
        claimed.lock.writeHolder({ ...(holder ?? { runId: '', runAttempt: '', runner: '', job: '', since: now.toISOString() }), pid: process.pid, reaping: new Date().toISOString() });
        await removeTree(c.path, { holdFd: claimed.lock.fd });
        handedOver = true;
        claimed.releaseAndRemoveLockFile();
        return { reaped: { path: c.path, kind: c.kind, bytes, lastUse } };
    }
    finally {
        if (!handedOver)
            claimed.release();
    }
}
/**
 * Removes a lock file whose dir is gone, under its lock. A run that locks before it makes its dir
 * holds the lock, so it is never disturbed; one blocked on the old inode retries on a new file.
 */
async function removeOrphanLock(lockPath, baseDir) {
    if (!lockPath.endsWith(LOCK_SUFFIX))
        throw new Error(`${lockPath} is not a lock file path`);
    const dir = lockPath.slice(0, -LOCK_SUFFIX.length);
    checkShape(dir, lockPath, baseDir);
    const st = lstatOrUndefined(lockPath);
    if (!st?.isFile() || lstatOrUndefined(dir))
        return false;
    // A main locks its run dir a moment before it makes it; a young lock file is left alone so the
    // probe never makes that main wait. A real orphan is just as harmless a minute later.
    if (Date.now() - st.mtime.getTime() < LEFTOVER_GRACE_MS)
        return false;
    const held = await lockOrUndefined(lockPath);
    if (!held)
        return false;
    if (lstatOrUndefined(dir)) {
        held.release();
        return false;
    }
    // A reaper killed mid-delete: its rm, holding the lock, finished the delete but nobody said so.
    const cutShort = readHolder(lockPath)?.reaping;
    const removed = removeLockFileQuietly(held);
    if (removed && cutShort)
        info(`runbox janitor: completed the removal of ${dir}: the step that started it (at ${cutShort}) was killed, its rm finished under the lock`);
    return removed;
}
/**
 * Guards against a caller handing in a path that the scan did not produce: only
 * `<baseDir>/<key>/<name>` with `<name>.lock` next to it is ever reaped.
 */
function checkShape(dir, lockPath, baseDir) {
    const base = external_node_path_default().resolve(baseDir);
    const d = external_node_path_default().resolve(dir);
    if (external_node_path_default().dirname(external_node_path_default().dirname(d)) !== base || d !== dir || lockPath !== dir + LOCK_SUFFIX)
        throw new Error(`refusing to reap ${dir}: it is not <base-dir>/<key>/<name> under ${base} with ${external_node_path_default().basename(dir)}${LOCK_SUFFIX} next to it`);
}
async function lockOrUndefined(lockPath) {
    try {
        return await tryLock(lockPath);
    }
    catch (e) {
        // Its parent went away, or a sibling's lock dir we may not write to: not ours to reap now.
        if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'EACCES')
            return undefined;
        throw e;
    }
}

;// CONCATENATED MODULE: ./src/reap/janitor.ts
// At the start of main: reaps what dead runs left behind. A hard-killed job never runs its post,
// so its dirs (and its free lock) stay until a later run of any job on this host sweeps them.
//
// A dir is reaped only if (a) nobody holds its lock — the kernel's word that no live run uses it —
// (b) its last use is older than reap-after (run dirs) or pr-reap-after (per-PR dirs), and (c) it
// is not one of this run's own dirs. Two janitors at once cannot both reap a dir: only one gets
// its lock, and the other, if it gets a lock later, finds the dir gone (see reaper.ts).








async function runJanitor(baseDir, cfg, opts) {
    const now = opts.now ?? new Date();
    const base = external_node_path_default().resolve(baseDir);
    const scan = scanBaseDir(base);
    const result = { reaped: [], bytes: 0, orphanLocksRemoved: [], emptyKeyDirsRemoved: [], failed: [], inUse: 0, skipped: scan.skipped };
    const cutoff = (c) => new Date(now.getTime() - 1000 * (c.kind === 'run' ? cfg.reapAfterSec : cfg.prReapAfterSec));
    for (const c of scan.candidates) {
        if (isExcluded(c.path, opts.exclude))
            continue;
        // Cheap pre-filter on the scan's figure; the reaper re-reads it under the lock.
        if (c.lastUse.getTime() > cutoff(c).getTime())
            continue;
        try {
            const r = await tryReapDir(c, { baseDir: base, idleBefore: cutoff(c), now });
            if (r.reaped) {
                result.reaped.push(r.reaped);
                result.bytes += r.reaped.bytes;
                info(`runbox janitor: reaped ${c.kind} dir ${c.path} (idle since ${r.reaped.lastUse.toISOString()}, ${formatBytes(r.reaped.bytes)})`);
            }
            else if (r.inUse)
                result.inUse++;
            else
                core_debug(`runbox janitor: kept ${c.path}: ${r.skipped}`);
        }
        catch (e) {
            // One dir that cannot be removed (no sudo for a container's root-owned files, say) must not
            // stop the sweep of the others, nor fail the job: its lock is free again and the next
            // janitor retries it.
            result.failed.push({ path: c.path, error: errorMessage(e) });
            core_warning(`runbox janitor: could not reap ${c.path}: ${errorMessage(e)}`);
        }
    }
    for (const lockPath of scan.orphanLocks) {
        if (isExcluded(lockPath.slice(0, -'.lock'.length), opts.exclude))
            continue;
        try {
            if (await removeOrphanLock(lockPath, base))
                result.orphanLocksRemoved.push(lockPath);
        }
        catch (e) {
            result.failed.push({ path: lockPath, error: errorMessage(e) });
            core_warning(`runbox janitor: could not remove the orphan lock file ${lockPath}: ${errorMessage(e)}`);
        }
    }
    result.emptyKeyDirsRemoved = removeEmptyKeyDirs(base, opts.exclude, now);
    return result;
}
/**
 * Removes `<base>/<key>` dirs that hold nothing, not even a lock file, so nobody holds or waits
 * for anything in them. rmdir(2) fails on a dir that is not empty, so a run that just put its
 * lock file there keeps it; one that made the key dir but had not yet made its lock file gets
 * ENOENT and makes the key dir again (dirs/liveness.ts acquireInKeyDir). Young ones are left
 * alone, so that retry is rare.
 */
function removeEmptyKeyDirs(base, exclude, now) {
    const removed = [];
    let names;
    try {
        names = external_node_fs_default().readdirSync(base);
    }
    catch (e) {
        if (errnoOf(e) === 'ENOENT')
            return removed;
        throw e;
    }
    for (const name of names.sort()) {
        const dir = external_node_path_default().join(base, name);
        if (isExcluded(dir, exclude))
            continue;
        const st = lstatOrUndefined(dir);
        if (!st?.isDirectory() || now.getTime() - st.mtime.getTime() < LEFTOVER_GRACE_MS)
            continue;
        try {
            if (external_node_fs_default().readdirSync(dir).length > 0)
                continue;
            external_node_fs_default().rmdirSync(dir);
            removed.push(dir);
        }
        catch (e) {
            const code = errnoOf(e);
            // Filled, removed or not ours meanwhile: nothing to do.
            if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOENT' && code !== 'EACCES' && code !== 'EPERM')
                throw e;
        }
    }
    return removed;
}
/** True when `p` is an excluded path, inside one, or contains one (a run dir holding this run's `run` dirs). */
function isExcluded(p, exclude) {
    const target = external_node_path_default().resolve(p);
    return exclude.some((raw) => {
        const x = external_node_path_default().resolve(raw);
        return x === target || x.startsWith(target + '/') || target.startsWith(x + '/');
    });
}

;// CONCATENATED MODULE: ./src/reap/disk-guard.ts
// disk-limit: when the filesystem of base-dir is fuller than the limit at main, prune unlocked
// dirs under base-dir — and nothing else on the host — until it is not, or nothing prunable is
// left. Age does not matter here, only liveness: a locked dir belongs to a live run and is never
// touched, however much space it holds.
//
// Order: dead run dirs first (nobody will ever use them again), oldest first; then idle per-PR
// dirs, oldest first (the least likely to be wanted warm again). The filesystem is re-probed
// after every prune rather than trusting du's figure, because hard links, sparse files, other
// writers on the same filesystem and content du cannot read all make the two disagree.









function statfsProbe(dir) {
    const s = external_node_fs_default().statfsSync(dir);
    return { totalBytes: s.blocks * s.bsize, usedBytes: (s.blocks - s.bfree) * s.bsize, availBytes: s.bavail * s.bsize };
}
/** df's Use%: used / (used + avail), so root's reserved blocks count neither way. */
function usedPercent(u) {
    const sum = u.usedBytes + u.availBytes;
    return sum === 0 ? 0 : (100 * u.usedBytes) / sum;
}
/** How many bytes must be freed to be within `limit`; 0 when within. */
function bytesOverLimit(u, limit) {
    const over = limit.kind === 'max-used-percent'
        ? // Freeing x bytes moves x from used to avail; used + avail stays the same.
            u.usedBytes - Math.floor(((u.usedBytes + u.availBytes) * limit.percent) / 100)
        : limit.bytes - u.availBytes;
    return Math.max(0, over);
}
function describeLimit(limit) {
    return limit.kind === 'max-used-percent' ? `at most ${limit.percent}% used` : `at least ${formatBytes(limit.bytes)} free`;
}
function describeUsage(u) {
    return `${usedPercent(u).toFixed(1)}% used, ${formatBytes(u.availBytes)} free`;
}
/** Run dirs before PR dirs; within each, least recently used first; path breaks ties so every guard agrees. */
function pruneOrder(candidates) {
    const rank = (c) => (c.kind === 'run' ? 0 : 1);
    return [...candidates].sort((a, b) => rank(a) - rank(b) || a.lastUse.getTime() - b.lastUse.getTime() || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
async function guardDisk(baseDir, limit, opts) {
    const base = external_node_path_default().resolve(baseDir);
    const probe = opts.probe ?? statfsProbe;
    const before = await probe(base);
    const result = { limit, before, after: before, pruned: [], bytes: 0, failed: [], live: [] };
    if (bytesOverLimit(before, limit) === 0)
        return result;
    info(`runbox disk guard: ${describeUsage(before)} on the filesystem of ${base}, limit ${describeLimit(limit)}; pruning unlocked dirs`);
    const order = pruneOrder(scanBaseDir(base).candidates.filter((c) => !isExcluded(c.path, opts.exclude)));
    for (const c of order) {
        if (bytesOverLimit(result.after, limit) === 0)
            break;
        try {
            // No idleBefore: under disk pressure any unlocked dir goes, however recently used.
            const r = await tryReapDir(c, { baseDir: base });
            if (!r.reaped) {
                if (r.inUse) {
                    const h = readHolder(c.lockPath);
                    result.live.push({ path: c.path, ...(h ? { holder: `run ${h.runId} (${h.runner}, job ${h.job})` } : {}) });
                }
                core_debug(`runbox disk guard: kept ${c.path}: ${r.skipped}`);
                continue;
            }
            result.pruned.push(r.reaped);
            result.bytes += r.reaped.bytes;
            result.after = await probe(base);
            info(`runbox disk guard: pruned ${c.kind} dir ${c.path} (${formatBytes(r.reaped.bytes)}); now ${describeUsage(result.after)}`);
        }
        catch (e) {
            // As in the janitor: one dir that cannot go must not stop the others from going.
            result.failed.push({ path: c.path, error: errorMessage(e) });
            core_warning(`runbox disk guard: could not prune ${c.path}: ${errorMessage(e)}`);
            // A half-done delete freed some space too.
            result.after = await probe(base);
        }
    }
    const over = bytesOverLimit(result.after, limit);
    if (over > 0)
        result.stillOverBy = over;
    return result;
}

;// CONCATENATED MODULE: ./src/common/size.ts
// One syntax wherever an input asks for a size (`disk-limit`'s minimum free, `gc`'s cap): binary
// units, as df -h and du -h print them, so a value copied from their output means the same.

const UNIT_BYTES = { M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };
/** The size syntax alone: `500M`, `20G`, `1T` (also `20GiB`, `20GB`); undefined when `raw` is not one. */
function sizeBytes(raw) {
    const size = /^(\d+)\s*([MGT])(?:i?B)?$/i.exec(raw);
    return size ? Number(size[1]) * UNIT_BYTES[size[2].toUpperCase()] : undefined;
}
/** A positive size in bytes, or an InputError naming `input` with `fix`. */
function parseSize(input, raw, fix) {
    const bytes = sizeBytes(raw);
    if (bytes === undefined)
        throw new InputError(input, `'${raw}' is not a size`, fix);
    if (bytes === 0)
        throw new InputError(input, `'${raw}' is zero`, fix);
    if (!Number.isSafeInteger(bytes))
        throw new InputError(input, `'${raw}' is too large`, fix);
    return bytes;
}

;// CONCATENATED MODULE: ./src/reap/reap-config.ts
// The janitor's and the disk guard's inputs, parsed before anything on disk is touched. A typo
// here would otherwise turn into "reap everything" or "never reap", so anything not clearly one
// of the accepted forms is refused with a message that names the input.




/**
 * A dead run's dir is never used again, so an hour only protects against clock skew between
 * runners and gives a human time to look at a failed run's files.
 */
const DEFAULT_REAP_AFTER = '1h';
/**
 * Per-PR dirs (a cargo registry, a dependency cache) exist to stay warm across the successive
 * pushes of an active PR. Pushes to a live PR are rarely more than a couple of days apart, but a
 * review over a weekend easily leaves one idle from Friday to Monday, so 3 days keeps those warm
 * while a PR that has gone quiet longer than that (merged, abandoned) stops holding disk. When
 * disk is short the disk guard prunes idle PR dirs anyway, whatever their age.
 */
const DEFAULT_PR_REAP_AFTER = '3d';
/** `''` (off), `85%` (max used, 1–99) or `20G` / `500M` / `1T` (min free). */
function parseDiskLimit(input, raw) {
    if (raw === '')
        return undefined;
    const fix = `Write a maximum used share as a whole percentage from 1% to 99% (e.g. '85%'), a minimum free size with unit M, G or T (e.g. '500M', '20G', '1T'), or leave it empty to turn the disk guard off`;
    const pct = /^(\d+)\s*%$/.exec(raw);
    if (pct) {
        const percent = Number(pct[1]);
        if (percent < 1 || percent > 99)
            throw new InputError(input, `'${raw}' is outside 1%–99%`, fix);
        return { kind: 'max-used-percent', percent };
    }
    if (sizeBytes(raw) === undefined)
        throw new InputError(input, `'${raw}' is neither a percentage nor a size`, fix);
    return { kind: 'min-free-bytes', bytes: parseSize(input, raw, fix) };
}
function parseReapConfig(src) {
    return {
        reapAfterSec: parseDuration('reap-after', src.value('reap-after') || DEFAULT_REAP_AFTER),
        prReapAfterSec: parseDuration('pr-reap-after', src.value('pr-reap-after') || DEFAULT_PR_REAP_AFTER),
        diskLimit: parseDiskLimit('disk-limit', src.value('disk-limit'))
    };
}

;// CONCATENATED MODULE: ./src/sys/confined.ts
// The kernel's confinement of a command that writes untrusted data (the `tar -x` of a restore):
// it runs as CONFINED_IDS, an identity that owns nothing on the host, in namespaces of its own
// where nothing but its dir can be written. What it may still do wrong inside that dir is
// checked afterwards by the caller (store/private-extract.ts verifyLanded).
//
// How (confinedCommand's argv; root runs it, through exec.ts `privileged`):
// - `unshare --mount --pid --ipc --net --uts --fork --kill-child=SIGKILL --mount-proc`: a mount namespace
//   (per-mount changes that the host never sees: propagation private, unshare's default), a pid
//   namespace whose init the command is (when it exits the kernel kills every process left in
//   it: nothing of the confined uid outlives it, so nothing can change the dir after the caller
//   walked it), with a /proc of its own (the other confined commands, running as the same uid
//   for the other archives, are not in it: their dirs cannot be reached through /proc/<pid>/cwd),
//   an IPC namespace (no POSIX queue or SysV object shared with the host), a network namespace
//   (no interface but a down loopback: no socket to a host service, a metadata endpoint or an
//   abstract unix socket of the host) and a UTS namespace. A unix socket bound to a PATH is not
//   the network namespace's: connect(2) finds it by path, across namespaces, and a read-only
//   mount does not stop it. Over one (a local user's 0777 /tmp/x.sock) a taken-over tar could
//   pass out (SCM_RIGHTS) a read-write fd of a file in its dir, still open after the file is
//   given to root and renamed into the store. Hence the root below, which holds no such path.
// - In it, as root: a minimal root for the command is built (ROOT): a fresh tmpfs holding
//   non-recursive read-only bind mounts of /usr (/bin, /lib64, ... as on the host: symlinks into
//   it on a merged /usr), /etc/ld.so.cache, /dev/null and the namespace's own /proc (glibc's
//   fchmodat goes through /proc/self/fd), and the dir bound at /extract (a mount of its own,
//   left writable). No /tmp, /var, /run, /home, /dev/shm or the rest of /dev and /etc: an
//   allowlist, so no dir where a local user can bind a socket (unless one can write under /usr).
//   Then the host's mounts leave the namespace: `pivot_root` into that root and a lazy unmount
//   (MNT_DETACH) of the old one, with every mount under it, in this namespace only: a second
//   wall, should a path outside the root be reached after all, since there is no outside left.
//   Where pivot_root is refused (a host whose root is no mount point of its own: an initramfs
//   root, a runner in a chroot), every writable mount is remounted read-only instead
//   (MS_REMOUNT|MS_BIND: per mount, in this namespace only; the filesystems stay writable for
//   the host), the namespace's own /proc and the kernel's pseudo filesystems too. Either way that
//   covers what the uid could otherwise write on any host: /tmp, /var/tmp, /dev/shm, /run/lock
//   and every other world-writable dir or file. A hard link into the dir from elsewhere fails
//   too (link(2) across two mounts is EXDEV), so nothing outside can be handed to root's chown
//   afterwards. The remounts go by path, and a path can change under them (a local user renaming
//   a dir above a mount point), so what landed is checked, not assumed, on both ways:
//   /proc/self/mountinfo is read again and the command does not start unless every mount a path
//   can reach, but the dir's bind in the root, is read-only (WRITABLE_MOUNTS_AWK), the new
//   root's own mounts included.
// - `chroot` into that root (root's CAP_SYS_CHROOT; the command, which has none, cannot leave
//   it; after a pivot it is the root already), `env -C /extract` (its working dir; after a
//   pivot, the shell's own cd), then
//   `setpriv --reuid --regid --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all`:
//   no capability, no supplementary group, no way back to root through a setuid binary. As
//   that uid, tar cannot create a device node, a file owned by anyone else or a setuid-root
//   file at all. `--pdeathsig=SIGKILL` again, because the kernel clears --kill-child's
//   parent-death signal when the uid changes.
// A host where unshare is refused (a container without CAP_SYS_ADMIN) fails the restore, with
// unshare's message: there is no unconfined fallback.
//
// Signals: unshare's parent blocks SIGTERM while it waits (util-linux), and the command, being
// its namespace's init, ignores SIGTERM from outside. So a supervising shell runs unshare in the
// background and turns SIGTERM/SIGINT/SIGHUP (a cancel: exec.stopChildren, relayed by sudo) into
// SIGKILL of unshare, which --kill-child turns into SIGKILL of the namespace.

/**
 * Who the confined command runs as. A fixed id, not `nobody` (65534): files on NFS with
 * root_squash are nobody's, and daemons run as nobody on many hosts; any process of the same uid
 * could reach the command (signals, ptrace, /proc/<pid>/cwd into its dir). No user or group of
 * the host may have it (checked: checkConfinedIds); it is below 2^31 (tools that take uids as
 * signed ints) and outside the ranges systemd and container runtimes hand out (system and
 * regular users, DynamicUser, 524288-1879048191 for containers, the 0x7FFE0000 foreign range).
 * Its dir lies inside the restore's private dir, root's and 0700: no other process of this uid
 * could reach it by path even if one existed.
 */
const CONFINED_IDS = Object.freeze({ uid: 2_147_000_000, gid: 2_147_000_000 });
/**
 * Identities for writers that must not reach each other's files: a restore's entries (a delta
 * and its base, which different jobs may have written) each extract as their own slot, so even
 * a taken-over tar of one owns none of the other's files. Slot 0 is CONFINED_IDS.
 */
const CONFINED_SLOTS = 2;
function confinedIds(slot) {
    if (!Number.isInteger(slot) || slot < 0 || slot >= CONFINED_SLOTS)
        throw new RangeError(`confined id slot ${slot}: there are ${CONFINED_SLOTS}`);
    return { uid: CONFINED_IDS.uid + slot, gid: CONFINED_IDS.gid + slot };
}
/**
 * awk over mountinfo: the mount points of the mounts still writable that a path can reach, but
 * the extraction dir's own (ENVIRON RUNBOX_DIR). Reachable: resolving the mount point from the
 * root mount (each step the first mount crossed, then the topmost one stacked there) ends on
 * that mount. A mount covered by another (the host's /proc under the namespace's own, a tmpfs
 * mounted twice on /dev/shm) is reached by no path, so it may stay as it is. Only mountinfo's
 * text is read: no mount point is looked up or stat'ed (a hung FUSE or NFS mount would hang
 * that), and a path renamed meanwhile changes nothing (the kernel's view is checked, not the
 * paths the remounts were given). Paths are compared in mountinfo's escaped form.
 */
const WRITABLE_MOUNTS_AWK = String.raw `
function esc(s,   o, i, c) {
  o = ""
  for (i = 1; i <= length(s); i++) {
    c = substr(s, i, 1)
    if (c == "\\") o = o "\\134"; else if (c == " ") o = o "\\040"; else if (c == "\t") o = o "\\011"; else if (c == "\n") o = o "\\012"; else o = o c
  }
  return o
}
function top(c) { while (c in above) c = above[c]; return c }
function under(p, m) { return m == "/" || p == m || substr(p, 1, length(m) + 1) == m "/" }
function resolve(p,   c, b, k, id) {
  c = top(root)
  for (;;) {
    b = ""
    for (k = 1; k <= n; k++) {
      id = ids[k]
      if (par[id] == c && id != c && mp[id] != mp[c] && under(p, mp[id]) && (b == "" || length(mp[id]) < length(mp[b]))) b = id
    }
    if (b == "") return c
    c = top(b)
  }
}
NF >= 6 { ids[++n] = $1; par[$1] = $2; mp[$1] = $5; rw[$1] = ($6 ~ /^rw(,|$)/) }
END {
  dir = esc(ENVIRON["RUNBOX_DIR"])
  root = ""
  for (k = 1; k <= n; k++) {
    id = ids[k]
    p = par[id]
    if ((p in mp) && p != id && mp[p] == mp[id]) above[p] = id
    if (mp[id] == "/" && (!(p in mp) || p == id)) root = id
  }
  if (root == "") { print "(no root mount in mountinfo)"; exit }
  for (k = 1; k <= n; k++) {
    id = ids[k]
    if (rw[id] && mp[id] != dir && resolve(mp[id]) == id) print mp[id]
  }
}`;
if (WRITABLE_MOUNTS_AWK.includes("'"))
    throw new Error('WRITABLE_MOUNTS_AWK is put between single quotes');
/**
 * Where the command's root is built, in the namespace: a tmpfs stacked on /sys, a root-owned path
 * every Linux host has, that no store (no extraction dir) can lie under and that nothing in the
 * namespace reads afterwards. The host's /sys is untouched (the mount is the namespace's); in the
 * namespace, the mounts under it (cgroups, debugfs, ...) are covered, so no path reaches them and
 * they need no remount each: that pays for the root's own mounts.
 */
const ROOT = '/sys';
/** The extraction dir, as the command sees it (its working dir). */
const ROOT_DIR = '/extract';
/**
 * Builds the command's root (see the top), pivots into it and detaches the host's mounts (else
 * remounts every writable mount but the dir read-only), checks that every mount a path reaches
 * is, then chroots and becomes the confined uid.
 */
const INNER = `set -eu
dir=$1 uid=$2 gid=$3
shift 3
root=${ROOT}
mount -c -t tmpfs -o mode=0755,size=64k,nr_inodes=64,nosuid,nodev,noexec runbox-confined-root "$root"
mkdir -- "$root/usr" "$root/etc" "$root/proc" "$root/dev" "$root${ROOT_DIR}" "$root/.old"
# Non-recursive: no mount stacked under the source (a runner's tmpfs, a FUSE mount) comes along.
# One mount(8) does the bind and then the read-only remount (util-linux >= 2.27; an older one
# leaves the bind writable, which the remounts and the check below then see to).
ro() {
  mount -c --bind -o "ro,$3" -- "$1" "$2"
}
ro /usr "$root/usr" nosuid,nodev
# Merged /usr: /bin, /lib64, ... are symlinks into it (copied as symlinks, by one cp); else dirs
# of their own. In a function: its own positional parameters collect the links.
top_dirs() {
  set --
  for d in bin sbin lib lib32 lib64 libx32; do
    if [ -L "/$d" ]; then
      set -- "$@" "/$d"
    elif [ -d "/$d" ]; then
      mkdir -- "$root/$d"
      ro "/$d" "$root/$d" nosuid,nodev
    fi
  done
  [ $# -eq 0 ] || cp -P -- "$@" "$root/"
}
top_dirs
# Of /etc, only the dynamic linker's cache (a library in a dir of ld.so.conf.d is found through it).
if [ -f /etc/ld.so.cache ]; then
  : >"$root/etc/ld.so.cache"
  ro /etc/ld.so.cache "$root/etc/ld.so.cache" nosuid,nodev,noexec
fi
: >"$root/dev/null"
ro /dev/null "$root/dev/null" nosuid,noexec
# The namespace's own /proc (its pid namespace's processes only): glibc's fchmodat, which tar
# uses to set a dir's mode, goes through /proc/self/fd.
ro /proc "$root/proc" nosuid,nodev,noexec
mount -c --bind -- "$dir" "$root${ROOT_DIR}"
mount -c -o remount,bind,ro,nosuid,nodev,noexec -- "$root"
# awk by its real path: after the pivot below, /etc/alternatives (Debian's awk link) is gone.
awk=$(readlink -f -- "$(command -v awk)")
# The host's mounts leave the namespace: pivot_root into the new root, then a lazy unmount of the
# old one takes every host mount with it (MNT_DETACH, in this namespace only). Two mount(2)s,
# where remounting each writable host mount read-only costs one mount(8) each (20-30 on a
# runner host with cgroups and Docker, every lane of every restore: the most of the confined
# tar's start, BENCHMARKS.md), and nothing of the host's tree is left in the namespace to reach.
# pivot_root is refused where the host's root is no mount point of its own (an initramfs root,
# a runner in a chroot): there, every writable mount is remounted read-only instead.
if cd -- "$root" && pivot_root . .old 2>/dev/null; then
  umount -c -l -- /.old
  root=/
else
  # The same list as the check below: only mounts a path reaches (a covered one cannot be remounted by path).
  mounts=$(RUNBOX_DIR=$root${ROOT_DIR} "$awk" '${WRITABLE_MOUNTS_AWK}' /proc/self/mountinfo)
  printf '%s\\n' "$mounts" | while IFS= read -r mp; do
    # The X keeps a trailing newline (\\012) that $(...) would drop: another path, never remounted.
    case $mp in *\\\\*) mp=$(printf '%bX' "$(printf '%s' "$mp" | sed 's/\\\\\\([0-7][0-7][0-7]\\)/\\\\0\\1/g')"); mp=\${mp%X} ;; esac
    [ "$mp" = "$root${ROOT_DIR}" ] && continue
    # -c: only mount(2), no stat of the mount point (a hung FUSE/NFS mount would hang it). A
    # remount that fails (the path renamed meanwhile, a mount covered by another) is judged below.
    mount -c -o remount,bind,ro -- "$mp" 2>/dev/null || :
  done
fi
# From here on the dir is its bind in the root: the only mount left writable, whichever way
# the host's mounts were dealt with; mountinfo (the kernel's view, not the paths used) says so.
dir=\${root%/}${ROOT_DIR}
left=$(RUNBOX_DIR=$dir "$awk" '${WRITABLE_MOUNTS_AWK}' /proc/self/mountinfo)
if [ -n "$left" ]; then
  printf 'runbox: the confined extraction did not start: these mounts stayed writable in its namespace (mountinfo escapes): %s\\n' "$(printf '%s' "$left" | tr '\\n' ' ')" >&2
  exit 111
fi
# After the pivot the root is the command's already: a cd, and no chroot or env to start.
if [ "$root" = / ]; then
  cd -- ${ROOT_DIR}
  exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all --pdeathsig=SIGKILL -- "$@"
fi
exec chroot -- "$root" env -C ${ROOT_DIR} setpriv --reuid="$uid" --regid="$gid" --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all --pdeathsig=SIGKILL -- "$@"
`;
/**
 * Runs unshare in the background so that a cancel's SIGTERM can become SIGKILL (see the top). The
 * trap is set before unshare starts: a SIGTERM landing between its start and the trap (the sh's
 * default action then) left unshare and its tar running, orphaned, after the cancel. A signal
 * that comes before ns is set is remembered and acted on once it is.
 */
const OUTER = `set -u
inner=$1
shift
stop=
trap 'stop=1; [ -z "\${ns:-}" ] || kill -KILL "$ns" 2>/dev/null' TERM INT HUP
exec 3<&0
unshare --mount --pid --ipc --net --uts --fork --kill-child=SIGKILL --mount-proc -- sh -c "$inner" runbox-confined "$@" <&3 3<&- &
ns=$!
exec 3<&-
[ -z "$stop" ] || kill -KILL "$ns" 2>/dev/null
while :; do
  wait "$ns"
  st=$?
  kill -0 "$ns" 2>/dev/null || exit "$st"
done
`;
/**
 * `cmd args` run as `ids` (CONFINED_IDS or another slot's) with `dir` as its working dir and the
 * only place it can write (its stdin, stdout and stderr are the ones it is started with). `dir`
 * must exist, be owned by `ids` (makeConfinedDir) and lie inside a dir only root can enter. The
 * command sees the minimal root (see the top): `cmd` is looked up in PATH there, so it must live
 * under /usr (or /bin, /sbin), and `dir` is /extract to it.
 */
function confinedCommand(dir, cmd, args, ids = CONFINED_IDS) {
    return { cmd: 'sh', args: ['-c', OUTER, 'runbox-confine', INNER, dir, String(ids.uid), String(ids.gid), cmd, ...args], privileged: true };
}
let idsChecked;
/** Refuses when a user or group of the host has one of the slots' ids (once per process). */
function checkConfinedIds() {
    idsChecked ??= (async () => {
        const slots = Array.from({ length: CONFINED_SLOTS }, (_, i) => confinedIds(i));
        // One getent per database for all the slots' ids (a process start each costs a fork of
        // this process, issue 13): it prints the entries it found, and exits 2 when any was not.
        for (const [db, ids] of [
            ['passwd', slots.map((s) => s.uid)],
            ['group', slots.map((s) => s.gid)]
        ]) {
            const r = await run('getent', [db, ...ids.map(String)], { allowFailure: true });
            // 2 with nothing printed: none found, the expected answer. Anything else but a hit is getent failing.
            if (r.code === 2 && r.stdout.trim() === '')
                continue;
            if (r.code !== 0 && r.code !== 2)
                throw new Error(`\`getent ${db} ${ids.join(' ')}\` failed with ${r.code} (${r.stderr.trim()}); runbox checks that no ${db} entry has the ids it extracts snapshots as`);
            const hit = r.stdout.split('\n')[0].split(':');
            throw new Error(`runbox extracts snapshots as the unprivileged id ${hit[2] ?? ids.join(' or ')}, which must belong to nobody on this host, but ${db} has it (${hit[0]}); remove or renumber that ${db === 'passwd' ? 'user' : 'group'}`);
        }
    })();
    // A failed check is told once more next time, not cached as passed.
    idsChecked.catch(() => (idsChecked = undefined));
    return idsChecked;
}
/** Makes `dir` (its parent must exist): `ids`' (CONFINED_IDS by default), 0700. */
async function makeConfinedDir(dir, ids = CONFINED_IDS) {
    await run('install', ['-d', '-m', '0700', '-o', String(ids.uid), '-g', String(ids.gid), '--', dir], { privileged: true });
}
/**
 * Gives everything under `dir` (itself included) to root, symlinks themselves (never followed).
 * Only once no confined process is left (the pid namespace ends with its command): nothing can
 * change the tree meanwhile, and nothing in it can be a hard link to a file from elsewhere.
 */
async function giveToRoot(dir) {
    await run('chown', ['-R', '-P', '-h', '0:0', '--', dir], { privileged: true });
}

// EXTERNAL MODULE: external "node:http"
var external_node_http_ = __nccwpck_require__(67);
var external_node_http_default = /*#__PURE__*/__nccwpck_require__.n(external_node_http_);
// EXTERNAL MODULE: external "node:https"
var external_node_https_ = __nccwpck_require__(708);
var external_node_https_default = /*#__PURE__*/__nccwpck_require__.n(external_node_https_);
;// CONCATENATED MODULE: external "node:tls"
const external_node_tls_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:tls");
var external_node_tls_default = /*#__PURE__*/__nccwpck_require__.n(external_node_tls_namespaceObject);
;// CONCATENATED MODULE: ./src/store/reused-buffers.ts
// Buffers handed back and taken again instead of allocated per use. On this kind of host (a VM)
// the first touch of fresh memory is what a restore's byte copies cost: 128 MiB copied into
// fresh 1 MiB buffers took node about 1.3 s (page faults, and the allocator giving the pages
// back between uses), into the same few buffers 0.01 s (issue 13).
/** Spare buffers of one size, at most `keep` of them held while unused. */
class BufferPool {
    size;
    keep;
    spare = [];
    constructor(size, keep) {
        this.size = size;
        this.keep = keep;
    }
    take() {
        return this.spare.pop() ?? Buffer.allocUnsafeSlow(this.size);
    }
    /** `b` must be one of this pool's and no longer read or written by anyone. */
    give(b) {
        if (b.length === this.size && this.spare.length < this.keep)
            this.spare.push(b);
    }
}

;// CONCATENATED MODULE: ./src/store/cache-service/range-get.ts
// One ranged GET of a cache blob, read off the socket into one reused buffer. node:http hands
// every 64 KiB the socket gave to its parser, which copies it into a fresh Buffer, and then
// through a Readable: for the hundreds of MB of a restore that cost node's one main thread more
// CPU than anything else it does (about 0.8 s per 128 MiB on loopback, against 0.05 s read
// this way; issue 13), on the thread that also checks every member. The answer to a GET of a
// range is simple enough to read by hand: a status line, headers, and exactly Content-Length
// bytes. Anything else (no length, a chunked body, bytes past the length) is refused, not
// guessed at. Sockets whose answer was read to its end are kept for the next GET to the same
// origin, as node's keep-alive agent did (a TLS handshake per frame would cost far runners more).




/** What one read off the socket takes at most (a unix or TCP socket rarely has more ready). */
const READ_BYTES = 256 * 1024;
/** Body bytes are handed on in blocks of this size (the last one shorter). */
const BLOCK_BYTES = 1024 * 1024;
/** Blocks read ahead of the consumer before the socket is paused. */
const AHEAD_BLOCKS = 2;
/** Every GET's blocks (read ahead, being filled, handed on): lanes at once, and then some. */
const blockPool = new BufferPool(BLOCK_BYTES, 8 * (AHEAD_BLOCKS + 2));
/** A status line and headers longer than this are no blob store's answer. */
const MAX_HEAD_BYTES = 64 * 1024;
/** Idle sockets kept per origin; more are closed. */
const MAX_IDLE_PER_ORIGIN = 8;
/** The connection ended (without an error) before the whole body came. */
class EndedEarly extends Error {
    got;
    constructor(got) {
        super(`the connection ended after ${got} bytes`);
        this.got = got;
        this.name = 'EndedEarly';
    }
}
/** A connection and the reads it takes, which follow whichever GET currently uses it. */
class Conn {
    origin;
    buffer = Buffer.allocUnsafe(READ_BYTES);
    onBytes = () => true;
    onGone = () => undefined;
    onIdle = () => undefined;
    socket;
    /** Ended or failed: never reused. */
    dead = false;
    /** Made with its own CA (tests): verified against other certificates than node's, never kept. */
    ownCa;
    constructor(origin, url, ca) {
        this.origin = origin;
        this.ownCa = ca !== undefined;
        const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
        const onread = { buffer: this.buffer, callback: (n) => this.onBytes(n) };
        const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
        this.socket =
            url.protocol === 'https:'
                ? // node's TLSSocket takes `onread` as net.Socket does (it is one); @types/node lists it for net only.
                    external_node_tls_default().connect({ host, port, ...(external_node_net_default().isIP(host) ? {} : { servername: host }), ALPNProtocols: ['http/1.1'], ...(ca ? { ca } : {}), ...{ onread } })
                : external_node_net_default().connect({ host, port, onread });
        this.socket.on('timeout', () => this.onIdle());
        this.socket.on('error', (e) => this.gone(e));
        this.socket.on('end', () => this.gone(undefined));
        this.socket.on('close', () => this.gone(undefined));
    }
    gone(e) {
        this.dead = true;
        forget(this);
        this.onGone(e);
    }
}
const idle = new Map();
function forget(c) {
    const list = idle.get(c.origin);
    const i = list?.indexOf(c) ?? -1;
    if (list && i >= 0)
        list.splice(i, 1);
}
function keep(c) {
    const list = idle.get(c.origin) ?? [];
    if (c.dead || c.ownCa || list.length >= MAX_IDLE_PER_ORIGIN)
        return void c.socket.destroy();
    c.onBytes = () => {
        // Bytes nobody asked for: the connection is out of step, never reused.
        c.socket.destroy();
        return false;
    };
    c.onGone = () => undefined;
    c.onIdle = () => undefined;
    // An idle connection keeps no step alive.
    c.socket.unref();
    list.push(c);
    idle.set(c.origin, list);
}
function take(url, ca) {
    const origin = `${url.protocol}//${url.host}`;
    const list = ca === undefined ? idle.get(origin) : undefined;
    while (list && list.length > 0) {
        const c = list.pop();
        if (c.dead || c.socket.destroyed)
            continue;
        c.socket.ref();
        return { conn: c, reused: true };
    }
    return { conn: new Conn(origin, url, ca), reused: false };
}
/** Closes every idle connection (tests, and a step about to exit). */
function closeIdleConnections() {
    for (const list of idle.values())
        for (const c of list.splice(0))
            c.socket.destroy();
}
/** Parses a status line and headers; undefined when `head` is not an HTTP/1.x answer's head. */
function parseHead(head) {
    const lines = head.split('\r\n');
    const m = /^HTTP\/1\.[01] ([1-5][0-9]{2})(?: [^\r\n]*)?$/.exec(lines[0]);
    if (!m)
        return undefined;
    const headers = new Map();
    for (const line of lines.slice(1)) {
        // Split at the first colon and trimmed by hand: a regex with a lazy value and trailing
        // blanks takes quadratic time on a value of many blanks (2 s for 64 KiB), blocking node.
        const colon = line.indexOf(':');
        const name = colon > 0 ? line.slice(0, colon) : '';
        // obs-fold and anything else that is no header line: not an answer to read by hand.
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name))
            return undefined;
        let from = colon + 1;
        let to = line.length;
        while (from < to && (line[from] === ' ' || line[from] === '\t'))
            from++;
        while (to > from && (line[to - 1] === ' ' || line[to - 1] === '\t'))
            to--;
        const value = line.slice(from, to);
        if (/[\r\n\0]/.test(value))
            return undefined;
        const key = name.toLowerCase();
        const prev = headers.get(key);
        headers.set(key, prev === undefined ? value : `${prev}, ${value}`);
    }
    return { status: Number(m[1]), headers };
}
/**
 * Sends the GET and yields its body in blocks of up to BLOCK_BYTES, each valid only until the
 * consumer asks for the next one (or stops): then it is filled again, so a consumer that keeps
 * bytes longer copies them. `floor.waiting`/`floor.arrived` bracket every wait on the network (the caller's
 * rate floor; `arrived` may throw to end the GET). `onStart` gets a function that ends the GET
 * with an error (the floor's timer). Stopping early (return, or a throw from the consumer)
 * destroys the connection.
 */
async function* rangeGet(url, opts, floor, onStart) {
    const origin = `${url.protocol}//${url.host}`;
    let { conn, reused } = take(url, opts.ca);
    const blocks = [];
    let failure;
    let ended = false;
    let wake = () => undefined;
    let paused = false;
    let head = Buffer.alloc(0);
    let left = opts.length;
    // Every block this GET took from the pool, given back when it ends (none is read after that).
    const mine = [];
    const free = [];
    const fresh = () => {
        let b = free.pop();
        if (b === undefined)
            mine.push((b = blockPool.take()));
        return b;
    };
    let block = fresh();
    let filled = 0;
    let arrived = 0;
    let reported = 0;
    // HTTP/1.1 keeps the connection unless the answer says it closes it.
    let reuse = true;
    // A reused connection the server closed while it sat idle fails before any byte of the
    // answer: that GET goes again, once, on a fresh connection, without counting as an attempt.
    let answered = false;
    const fail = (e) => {
        failure ??= e;
        conn.socket.destroy();
        wake();
    };
    onStart(fail);
    const body = (buf) => {
        if (buf.length > left)
            return fail(new Error(`GET ${url.host}: the answer holds more than the ${opts.length} bytes its Content-Length says`));
        arrived += buf.length;
        let off = 0;
        while (off < buf.length) {
            const n = Math.min(buf.length - off, block.length - filled);
            buf.copy(block, filled, off, off + n);
            filled += n;
            off += n;
            left -= n;
            if (filled === block.length) {
                blocks.push(block);
                block = fresh();
                filled = 0;
            }
        }
        if (left === 0) {
            ended = true;
            if (filled > 0)
                blocks.push(block.subarray(0, filled));
        }
        wake();
    };
    const onHead = (all) => {
        const at = all.indexOf('\r\n\r\n');
        // One read may bring a whole head past the bound (a 256 KiB read): refused all the same.
        if (at > MAX_HEAD_BYTES)
            return void fail(new Error(`GET ${url.host}: the answer's head is longer than ${MAX_HEAD_BYTES} bytes`));
        if (at < 0) {
            if (all.length > MAX_HEAD_BYTES)
                fail(new Error(`GET ${url.host}: the answer's head is longer than ${MAX_HEAD_BYTES} bytes`));
            else
                head = Buffer.from(all);
            return undefined;
        }
        head = undefined;
        const text = all.subarray(0, at).toString('latin1');
        const parsed = parseHead(text);
        if (!parsed)
            return void fail(new Error(`GET ${url.host}: not an HTTP/1.1 answer: ${shown(text.slice(0, 200))}`));
        try {
            checkHeadOf(parsed, opts);
        }
        catch (e) {
            return void fail(e instanceof Error ? e : new Error(String(e)));
        }
        if (/(^|,)\s*close\s*(,|$)/i.test(parsed.headers.get('connection') ?? ''))
            reuse = false;
        return all.subarray(at + 4);
    };
    const send = () => {
        conn.onBytes = (n) => {
            answered = true;
            const got = conn.buffer.subarray(0, n);
            const rest = head === undefined ? got : onHead(head.length === 0 ? got : Buffer.concat([head, got]));
            if (rest !== undefined && !failure)
                body(rest);
            if (failure)
                return false;
            paused = !ended && blocks.length >= AHEAD_BLOCKS;
            return !paused;
        };
        conn.onGone = (e) => {
            if (ended || failure)
                return;
            if (!answered && reused) {
                const stale = conn;
                stale.onBytes = () => false;
                stale.onGone = () => undefined;
                conn = new Conn(origin, url, opts.ca);
                reused = false;
                send();
                return;
            }
            failure = e ?? new EndedEarly(opts.length - left);
            wake();
        };
        conn.onIdle = () => fail(Object.assign(new Error(`GET ${url.host}: no progress for ${opts.idleTimeoutMs / 1000} s`), { code: 'ETIMEDOUT' }));
        conn.socket.setTimeout(opts.idleTimeoutMs);
        const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, ...Object.entries(opts.headers).map(([k, v]) => `${k}: ${v}`), 'Accept-Encoding: identity', '', ''];
        conn.socket.write(lines.join('\r\n'));
    };
    send();
    try {
        for (;;) {
            if (blocks.length === 0 && !ended && !failure) {
                floor.waiting();
                await new Promise((resolve) => (wake = resolve));
                wake = () => undefined;
                floor.arrived(arrived - reported);
                reported = arrived;
            }
            const b = blocks.shift();
            if (b !== undefined) {
                if (paused && blocks.length < AHEAD_BLOCKS && !conn.socket.destroyed) {
                    paused = false;
                    conn.socket.resume();
                }
                yield b;
                // Asked for the next: the consumer is done with this one.
                if (b.length === BLOCK_BYTES)
                    free.push(b);
                continue;
            }
            if (failure)
                throw failure;
            if (ended)
                return;
        }
    }
    finally {
        conn.socket.setTimeout(0);
        if (ended && !failure && reuse)
            keep(conn);
        else {
            conn.onBytes = () => false;
            conn.socket.destroy();
        }
        // The socket reads into its own buffer, never into these: they are free for the next GET.
        for (const b of mine)
            blockPool.give(b);
    }
}
function checkHeadOf(h, opts) {
    opts.checkHead(h);
    const len = h.headers.get('content-length');
    if (h.headers.has('transfer-encoding') && h.headers.get('transfer-encoding')?.toLowerCase() !== 'identity')
        throw new Error(`the answer's body is sent ${shown(h.headers.get('transfer-encoding') ?? '')}, not with a Content-Length as blob stores send ranges`);
    if (len === undefined || !/^[0-9]{1,16}$/.test(len))
        throw new Error(`the answer has no usable Content-Length (${shown(len ?? 'none')})`);
    if (Number(len) !== opts.length)
        throw new Error(`the answer's Content-Length is ${len}, not the ${opts.length} bytes asked for`);
}

;// CONCATENATED MODULE: ./src/store/cache-service/http.ts
// HTTP plumbing shared by the v1 and v2 cache clients: bounded retries, errors that say what
// failed, and ranged downloads that resume where a broken connection left off.




const MAX_ATTEMPTS = 5;
/**
 * Base of the exponential backoff (1 s, 2 s, 4 s, 8 s). RUNBOX_TEST_RETRY_MS is for tests only: it
 * shrinks the waits so fault tests still retry, in milliseconds. Read once, at the first retry
 * (in-process tests set it after the modules are loaded).
 */
let retryBaseMs;
function retryBase() {
    if (retryBaseMs === undefined) {
        const v = (process.env.RUNBOX_TEST_RETRY_MS ?? '').trim();
        retryBaseMs = /^[0-9]{1,6}$/.test(v) ? Number(v) : 1000;
    }
    return retryBaseMs;
}
/** A download that delivers no byte for this long is aborted (and resumed, as a network error). */
const IDLE_TIMEOUT_MS = 120_000;
/**
 * The slowest a ranged download may be: a server dripping a byte every 119 s never trips the idle
 * timeout, and would hold a lane and the host's restore lock for hours. A range that delivers
 * less than `bytesPerSec` on average over `windowMs` of waiting on the network (time the reader
 * spends on what it was handed, backpressure, is not counted) is aborted as a short read:
 * resumed, within the same bounded retries. RUNBOX_TEST_RATE_FLOOR=<windowMs>:<bytesPerSec> is
 * for tests only (a window of a second instead of a minute); read at every range, so an
 * in-process test can set it for one case.
 */
function rateFloor() {
    const m = /^([0-9]{1,7}):([0-9]{1,10})$/.exec((process.env.RUNBOX_TEST_RATE_FLOOR ?? '').trim());
    return m && Number(m[1]) > 0 ? { windowMs: Number(m[1]), bytesPerSec: Number(m[2]) } : { windowMs: 60_000, bytesPerSec: 64 * 1024 };
}
const RPC_TIMEOUT_MS = 60_000;
class HttpError extends Error {
    status;
    constructor(status, message) {
        super(message);
        this.status = status;
        this.name = 'HttpError';
    }
}
/** The connection ended before the bytes asked for arrived: retried, resuming at the last byte. */
class ShortReadError extends Error {
}
/** 5xx (but not 501) and network-level failures are worth another attempt; 429 and other 4xx are not. */
function isRetryable(e) {
    if (e instanceof ShortReadError)
        return true;
    const status = e instanceof HttpError ? e.status : e?.statusCode;
    if (typeof status === 'number' && status > 0)
        return status >= 500 && status !== 501;
    const name = e?.name;
    const code = e?.code ?? e?.cause?.code;
    if (name === 'AbortError' || name === 'TimeoutError')
        return true;
    if (typeof code === 'string' && /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|ECONNABORTED|UND_ERR_.*|REQUEST_SEND_ERROR)$/.test(code))
        return true;
    return e instanceof Error && /terminated|socket hang up|premature close/i.test(e.message);
}
/** An error's message with its cause, when it has one. */
function http_describe(e) {
    if (!(e instanceof Error))
        return String(e);
    const cause = e.cause;
    const c = cause instanceof Error ? `${cause.code ?? ''} ${cause.message}`.trim() : '';
    return c && !e.message.includes(c) ? `${e.message} (${c})` : e.message;
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const backoff = (attempt) => retryBase() * 2 ** (attempt - 1);
/** Runs fn up to MAX_ATTEMPTS times while it fails with a retryable error. */
async function withRetries(what, fn) {
    for (let attempt = 1;; attempt++) {
        try {
            return await fn();
        }
        catch (e) {
            if (!isRetryable(e))
                throw e;
            if (attempt >= MAX_ATTEMPTS)
                throw new RetriesExhausted(`${what} failed after ${attempt} attempts: ${http_describe(e)}`, e);
            await sleep(backoff(attempt));
        }
    }
}
class RetriesExhausted extends Error {
    last;
    constructor(message, last) {
        super(message);
        this.last = last;
        this.name = 'RetriesExhausted';
    }
}
/** Reads a JSON body, refusing anything large (the services answer a few hundred bytes). */
async function jsonBody(res, what) {
    const text = await res.text();
    if (text.length > 1 << 20)
        throw new Error(`${what}: the response is ${text.length} characters, not a cache service answer`);
    try {
        return JSON.parse(text);
    }
    catch {
        throw new Error(`${what}: the response (HTTP ${res.status}) is not JSON: ${shown(text)}`);
    }
}
/** Past this, an answer to an RPC or REST call is no cache service's: refused, not buffered. */
const MAX_ANSWER_BYTES = 8 * 2 ** 20;
/** A whole HTTP answer, read into memory (the services' answers are small): what the callers took from fetch's Response. */
class Answer {
    status;
    body;
    ok;
    headers;
    constructor(status, raw, body) {
        this.status = status;
        this.body = body;
        this.ok = status >= 200 && status < 300;
        const get = (name) => {
            const v = raw[name.toLowerCase()];
            return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
        };
        this.headers = { get, has: (name) => get(name) !== null };
    }
    text() {
        return Promise.resolve(this.body.toString('utf8'));
    }
}
/**
 * One request and its whole answer, within RPC_TIMEOUT_MS. node:http, not fetch: fetch's first
 * call (loading undici, compiling its HTTP parser) cost every step about 0.35 s of CPU, more
 * than the rest of a small restore (issue 13).
 */
function fetchWithTimeout(url, init = {}) {
    return new Promise((resolve, reject) => {
        const u = new URL(url);
        const method = init.method ?? 'GET';
        const mod = u.protocol === 'https:' ? (external_node_https_default()) : (external_node_http_default());
        const body = init.body === undefined ? undefined : Buffer.from(init.body, 'utf8');
        const fail = (e) => {
            clearTimeout(timer);
            reject(e);
        };
        const req = mod.request(u, { method, headers: { ...init.headers, ...(body ? { 'Content-Length': String(body.length) } : {}) } }, (res) => {
            const chunks = [];
            let n = 0;
            res.on('data', (c) => {
                n += c.length;
                if (n > MAX_ANSWER_BYTES)
                    req.destroy(new Error(`${method} ${u.host}${u.pathname}: the answer is more than ${MAX_ANSWER_BYTES} bytes, not a cache service's`));
                else
                    chunks.push(c);
            });
            res.on('end', () => {
                clearTimeout(timer);
                resolve(new Answer(res.statusCode ?? 0, res.headers, Buffer.concat(chunks)));
            });
            res.on('error', fail);
        });
        const timer = setTimeout(() => req.destroy(Object.assign(new Error(`${method} ${u.host}${u.pathname}: no whole answer within ${RPC_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })), RPC_TIMEOUT_MS).unref();
        req.on('error', fail);
        req.end(body);
    });
}
/**
 * Sends a body of known length (Content-Length, not chunked: the v1 service wants it) from a
 * stream made fresh for every attempt. Resolves to the status and the body text.
 */
function sendStream(method, url, headers, body, length) {
    return new Promise((resolve, reject) => {
        const u = new URL(url);
        const mod = u.protocol === 'https:' ? (external_node_https_default()) : (external_node_http_default());
        const req = mod.request(u, { method, headers: { ...headers, 'Content-Length': String(length) }, timeout: IDLE_TIMEOUT_MS }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.length < 1024 && chunks.push(c));
            res.on('end', () => {
                const answer = { status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') };
                // Settled only once nothing reads the body any more: the caller fills the same buffers
                // again (entry/writer.ts). A server that answered early (a 4xx/5xx before the whole body)
                // gets the rest cut off.
                if (req.writableFinished)
                    return resolve(answer);
                src.unpipe(req);
                src.destroy();
                req.once('close', () => resolve(answer));
                req.destroy();
            });
            res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(Object.assign(new Error(`${method} ${u.host}: no progress for ${IDLE_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
        const src = body();
        req.on('error', (e) => {
            src.destroy();
            reject(e);
        });
        src.on('error', (e) => req.destroy(e));
        src.pipe(req);
    });
}
function contentRange(h) {
    const m = h ? /^bytes (\d+)-(\d+)\/(\d+)$/.exec(h.trim()) : null;
    return m ? { start: Number(m[1]), end: Number(m[2]), size: Number(m[3]) } : undefined;
}
/**
 * One GET of bytes [start, end) of a blob of `size` bytes; yields them, checking the count. Read
 * off the socket by range-get.ts, not node:http (whose parser copies every 64 KiB into a fresh
 * buffer: the most CPU a restore spent in node, issue 13) nor fetch (its web stream cost as
 * much). The rate floor counts from the request: headers dripped as slowly as a body would
 * hold the lane as long.
 */
async function* getRange(url, start, end, size) {
    let n = 0;
    let abort = () => undefined;
    const floor = new RateFloor(rateFloor(), (why) => {
        const e = new ShortReadError(`GET bytes ${start}-${end - 1} of the cache blob: ${why} (after ${n} bytes)`);
        abort(e);
        return e;
    });
    const checkHead = (h) => {
        const full = h.status === 200 && start === 0 && end === size;
        if (h.status !== 206 && !full)
            throw new HttpError(h.status, `GET bytes ${start}-${end - 1} of the cache blob: HTTP ${h.status}`);
        if (h.status === 206) {
            const header = h.headers.get('content-range');
            const cr = contentRange(header ?? null);
            if (!cr || cr.start !== start || cr.end !== end - 1 || cr.size !== size)
                throw new Error(`GET bytes ${start}-${end - 1} of the cache blob: the answer covers ${shown(header ?? 'no Content-Range')}`);
        }
    };
    try {
        const opts = { headers: { Range: `bytes=${start}-${end - 1}` }, idleTimeoutMs: IDLE_TIMEOUT_MS, checkHead, length: end - start };
        for await (const b of rangeGet(new URL(url), opts, floor, (a) => (abort = a))) {
            n += b.length;
            yield b;
        }
    }
    catch (e) {
        if (e instanceof EndedEarly)
            throw new ShortReadError(`GET bytes ${start}-${end - 1} of the cache blob ended after ${n} bytes`);
        throw e;
    }
    finally {
        floor.stop();
    }
}
/**
 * rateFloor's check on one GET: waiting on the network is timed from the reader asking for
 * bytes to their arrival, in windows of `windowMs` of such waiting; a window that brought fewer
 * than its share of bytes aborts the GET. A timer ends a window while the wait goes on, so a
 * stalled drip is caught at the window's end, not when its next byte comes.
 */
class RateFloor {
    floor;
    tooSlow;
    waited = 0;
    got = 0;
    since;
    timer;
    constructor(floor, 
    /** Ends the GET (its body fails with the error returned). */
    tooSlow) {
        this.floor = floor;
        this.tooSlow = tooSlow;
    }
    /** The reader asked for bytes and none are buffered yet, maybe: the wait counts from now. */
    waiting() {
        this.since = Date.now();
        this.arm();
    }
    /** `bytes` arrived (0: the body ended): the wait stops counting. Throws when the window just ended short. */
    arrived(bytes) {
        this.pause();
        this.got += bytes;
        const why = this.endWindow();
        if (why !== undefined)
            throw this.tooSlow(why);
    }
    stop() {
        this.pause();
    }
    pause() {
        clearTimeout(this.timer);
        this.timer = undefined;
        if (this.since !== undefined)
            this.waited += Date.now() - this.since;
        this.since = undefined;
    }
    arm() {
        this.timer = setTimeout(() => {
            this.pause();
            const why = this.endWindow();
            if (why !== undefined)
                this.tooSlow(why);
            else
                this.waiting();
        }, Math.max(0, this.floor.windowMs - this.waited));
    }
    /** At a window's end: why the GET is too slow, or undefined (and a new window begins). */
    endWindow() {
        if (this.waited < this.floor.windowMs)
            return undefined;
        const want = (this.floor.bytesPerSec * this.waited) / 1000;
        const seconds = this.waited / 1000;
        const got = this.got;
        this.waited = 0;
        this.got = 0;
        if (got >= want)
            return undefined;
        return `${got} bytes in ${seconds.toFixed(1)} s of waiting, below the floor of ${this.floor.bytesPerSec} bytes/s`;
    }
}
/** Bytes [offset, offset+length), resuming after the last byte received on a retryable failure. */
async function* resumableRange(url, offset, length, size) {
    const end = offset + length;
    let pos = offset;
    for (let attempt = 1; pos < end;) {
        const it = getRange(url, pos, end, size)[Symbol.asyncIterator]();
        try {
            for (;;) {
                let r;
                try {
                    r = await it.next();
                }
                catch (e) {
                    if (!isRetryable(e))
                        throw e;
                    if (attempt >= MAX_ATTEMPTS)
                        throw new Error(`downloading the cache blob failed after ${attempt} attempts: ${http_describe(e)}`);
                    await sleep(backoff(attempt++));
                    break;
                }
                if (r.done)
                    break;
                pos += r.value.length;
                yield r.value;
            }
        }
        finally {
            // A consumer that stops early (a hash mismatch) cancels the GET's body here.
            await it.return(undefined);
        }
    }
}
/**
 * The blob behind a signed download URL as a RangeSource. Its size comes from a HEAD, which the
 * signed URLs of both service versions allow (@actions/cache's concurrent download does the same).
 */
async function openBlob(url, maxBytes) {
    const size = await withRetries('HEAD of the cache blob', async () => {
        const res = await fetchWithTimeout(url, { method: 'HEAD' });
        if (res.status !== 200)
            throw new HttpError(res.status, `HEAD of the cache blob: HTTP ${res.status}`);
        const len = res.headers.get('content-length');
        if (!len || !/^\d{1,16}$/.test(len))
            throw new Error(`HEAD of the cache blob: no usable Content-Length (${shown(len ?? 'none')})`);
        return Number(len);
    });
    if (size > maxBytes)
        throw new Error(`the cache blob is ${size} bytes, more than the ${maxBytes} a runbox entry may be`);
    return { size, read: (offset, length) => (length === 0 ? (async function* () { })() : resumableRange(url, offset, length, size)) };
}

;// CONCATENATED MODULE: ./src/store/cache-service/index.ts
// A small client for the Actions cache service, selected from the environment as @actions/cache
// does: v2 (Twirp JSON + signed Azure blob URLs) on github.com / *.ghe.com / *.localhost with
// ACTIONS_CACHE_SERVICE_V2 set, v1 (`_apis/artifactcache`) otherwise (GHES). It moves raw bytes
// only: what the bytes mean is the entry reader's business.




function isGhes(env) {
    let host;
    try {
        host = new URL(env.GITHUB_SERVER_URL || 'https://github.com').hostname.trimEnd().toLowerCase();
    }
    catch {
        return true;
    }
    return host !== 'github.com' && !host.endsWith('.ghe.com') && !host.endsWith('.localhost');
}
const KNOWN_MODES = ['none', 'read', 'write', 'write-only'];
/** Which service this job has, or why none (a sentence). */
function serviceFromEnv(env = process.env) {
    const protocol = !isGhes(env) && env.ACTIONS_CACHE_SERVICE_V2 ? 'v2' : 'v1';
    const raw = protocol === 'v2' ? env.ACTIONS_RESULTS_URL : env.ACTIONS_CACHE_URL || env.ACTIONS_RESULTS_URL;
    if (!raw)
        return `no ${protocol === 'v2' ? 'ACTIONS_RESULTS_URL' : 'ACTIONS_CACHE_URL'} (cache service ${protocol})`;
    const token = env.ACTIONS_RUNTIME_TOKEN ?? '';
    if (!token)
        return 'no ACTIONS_RUNTIME_TOKEN';
    const mode = (env.ACTIONS_CACHE_MODE ?? '').trim().toLowerCase();
    // As @actions/cache: an unknown mode is permissive, so a new runner mode changes nothing here.
    const known = KNOWN_MODES.includes(mode);
    return {
        protocol,
        url: raw.endsWith('/') ? raw : `${raw}/`,
        token,
        readable: !known || mode === 'read' || mode === 'write',
        writable: !known || mode === 'write' || mode === 'write-only',
        mode
    };
}
function clientFor(svc) {
    return svc.protocol === 'v2' ? new V2Client(svc) : new V1Client(svc);
}
/** Runs `tasks` with at most `n` at a time; the first failure stops starting new ones. */
async function limited(n, tasks) {
    let next = 0;
    let failed;
    let didFail = false;
    const worker = async () => {
        while (!didFail && next < tasks.length) {
            const t = tasks[next++];
            try {
                await t();
            }
            catch (e) {
                if (!didFail)
                    [didFail, failed] = [true, e];
            }
        }
    };
    await Promise.all(Array.from({ length: Math.min(n, tasks.length) }, worker));
    if (didFail)
        throw failed;
}
/** A field of the service's JSON reply as text: a string as is, anything else as its JSON. */
/** Bytes of a block given as its pieces. */
const lengthOf = (data) => data.reduce((n, b) => n + b.length, 0);
function fieldText(v) {
    return typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
}
// ---------------------------------------------------------------- v2 (Twirp)
const TWIRP = 'twirp/github.actions.results.api.v1.CacheService/';
const V2_BLOCK_BYTES = 64 * 2 ** 20;
class V2Client {
    svc;
    protocol = 'v2';
    constructor(svc) {
        this.svc = svc;
    }
    async rpc(method, body) {
        return withRetries(`cache service ${method}`, async () => {
            const res = await fetchWithTimeout(`${this.svc.url}${TWIRP}${method}`, {
                method: 'POST',
                headers: { Authorization: `Bearer ${this.svc.token}`, 'Content-Type': 'application/json', Accept: 'application/json' },
                body: JSON.stringify(body)
            });
            const out = await jsonBody(res, method).catch((e) => {
                if (!res.ok)
                    throw new HttpError(res.status, `${method}: HTTP ${res.status}`);
                throw e;
            });
            const o = (typeof out === 'object' && out !== null ? out : {});
            if (!res.ok) {
                const what = res.status === 429 ? 'rate limited' : `HTTP ${res.status}`;
                throw new HttpError(res.status, `${method}: ${what}: ${shown(fieldText(o.code ?? ''))} ${shown(fieldText(o.msg ?? ''))}`);
            }
            return o;
        });
    }
    async find(keys, version) {
        const o = await this.rpc('GetCacheEntryDownloadURL', { key: keys[0], restore_keys: keys.slice(1), version });
        if (o.ok !== true)
            return undefined;
        const url = o.signed_download_url ?? o.signedDownloadUrl;
        const matchedKey = o.matched_key ?? o.matchedKey;
        if (typeof url !== 'string' || typeof matchedKey !== 'string')
            throw new Error('GetCacheEntryDownloadURL: ok without a URL and matched key');
        return { matchedKey, url };
    }
    /** Reserves key (CreateCacheEntry) and opens its blob for block uploads, or says why not. */
    async createEntry(key, version) {
        const created = await this.rpc('CreateCacheEntry', { key, version });
        const uploadUrl = created.signed_upload_url ?? created.signedUploadUrl;
        if (created.ok !== true || typeof uploadUrl !== 'string')
            return { refused: `CreateCacheEntry refused ${key}: ${shown(fieldText(created.message ?? 'no reason given'))} (a concurrent job may have saved this key first)` };
        // Loaded here, not at the top: the SDK is most of the bundle, and only a save uploads. Every
        // main, post and janitor-only step would otherwise pay for parsing it at start.
        const { AnonymousCredential, BlockBlobClient, newPipeline } = await __nccwpck_require__.e(/* import() */ 790).then(__nccwpck_require__.bind(__nccwpck_require__, 790));
        // The SDK's own retries are off: ours (bounded, same backoff as the RPCs) wrap each block.
        return new BlockBlobClient(uploadUrl, newPipeline(new AnonymousCredential(), { retryOptions: { maxTries: 1 } }));
    }
    async save(key, version, size, body, opts = {}) {
        const blob = await this.createEntry(key, version);
        if ('refused' in blob)
            return blob;
        const blockBytes = opts.blockBytes ?? V2_BLOCK_BYTES;
        const count = Math.max(1, Math.ceil(size / blockBytes));
        // Block ids must all have the same length within a blob.
        const ids = Array.from({ length: count }, (_, i) => Buffer.from(`runbox-${String(i).padStart(6, '0')}`).toString('base64'));
        await limited(opts.concurrency ?? 4, ids.map((id, i) => async () => {
            const start = i * blockBytes;
            const end = Math.min(size, start + blockBytes);
            await withRetries(`uploading block ${i + 1}/${count}`, () => blob.stageBlock(id, () => body(start, end), end - start));
        }));
        await withRetries('committing the block list', () => blob.commitBlockList(ids));
        const fin = await this.rpc('FinalizeCacheEntryUpload', { key, version, size_bytes: String(size) });
        if (fin.ok !== true)
            return { refused: `FinalizeCacheEntryUpload refused ${key}: ${shown(fieldText(fin.message ?? 'no reason given'))}` };
        return { id: fieldText(fin.entry_id ?? fin.entryId ?? '') };
    }
    async begin(key, version) {
        const blob = await this.createEntry(key, version);
        if ('refused' in blob)
            return blob;
        let next = 0;
        return {
            ordered: false,
            put: async (data) => {
                const n = next++;
                // Same length for every id of a blob (Azure's rule); 10^8 blocks is past any entry.
                const id = Buffer.from(`runbox-s${String(n).padStart(8, '0')}`).toString('base64');
                await withRetries(`uploading block ${n + 1}`, () => blob.stageBlock(id, () => external_node_stream_.Readable.from(data), lengthOf(data)));
                return id;
            },
            commit: async (refs, size) => {
                await withRetries('committing the block list', () => blob.commitBlockList([...refs]));
                const fin = await this.rpc('FinalizeCacheEntryUpload', { key, version, size_bytes: String(size) });
                if (fin.ok !== true)
                    return { refused: `FinalizeCacheEntryUpload refused ${key}: ${shown(fieldText(fin.message ?? 'no reason given'))}` };
                return { id: fieldText(fin.entry_id ?? fin.entryId ?? '') };
            }
        };
    }
}
// ---------------------------------------------------------------- v1 (GHES)
const V1_ACCEPT = 'application/json;api-version=6.0-preview.1';
const V1_CHUNK_BYTES = 32 * 2 ** 20;
class V1Client {
    svc;
    protocol = 'v1';
    constructor(svc) {
        this.svc = svc;
    }
    headers(json) {
        return { Authorization: `Bearer ${this.svc.token}`, Accept: V1_ACCEPT, ...(json ? { 'Content-Type': 'application/json' } : {}) };
    }
    async call(what, method, path, body) {
        return withRetries(`cache service ${what}`, async () => {
            const res = await fetchWithTimeout(`${this.svc.url}_apis/artifactcache/${path}`, {
                method,
                headers: this.headers(body !== undefined),
                ...(body !== undefined ? { body: JSON.stringify(body) } : {})
            });
            if (res.status >= 500 || res.status === 429) {
                throw new HttpError(res.status, `${what}: ${res.status === 429 ? 'rate limited' : 'HTTP'} (${res.status})`);
            }
            const text = res.status === 204 ? '' : await res.text();
            let json;
            if (text !== '')
                try {
                    json = JSON.parse(text);
                }
                catch {
                    json = undefined;
                }
            return { status: res.status, json };
        });
    }
    async find(keys, version) {
        const r = await this.call('lookup', 'GET', `cache?keys=${encodeURIComponent(keys.join(','))}&version=${encodeURIComponent(version)}`);
        if (r.status === 204 || r.status === 404)
            return undefined;
        if (r.status !== 200)
            throw new HttpError(r.status, `cache lookup: HTTP ${r.status}`);
        const o = (r.json ?? {});
        if (typeof o.archiveLocation !== 'string' || o.archiveLocation === '')
            return undefined;
        if (typeof o.cacheKey !== 'string')
            throw new Error('cache lookup: a hit without cacheKey');
        return { matchedKey: o.cacheKey, url: o.archiveLocation };
    }
    async save(key, version, size, body, opts = {}) {
        const r = await this.reserve(key, version, size);
        if ('refused' in r)
            return r;
        const chunk = opts.blockBytes ?? V1_CHUNK_BYTES;
        const tasks = [];
        for (let start = 0; start < size; start += chunk) {
            const end = Math.min(size, start + chunk);
            tasks.push(() => this.patch(r.id, start, end, () => body(start, end)));
        }
        await limited(opts.concurrency ?? 4, tasks);
        return this.commit(key, r.id, size);
    }
    async commit(key, id, size) {
        const c = await this.call('commit', 'POST', `caches/${String(id)}`, { size });
        if (c.status < 200 || c.status >= 300)
            return { refused: `the cache service did not commit ${key}: HTTP ${c.status}` };
        return { id: String(id) };
    }
    async reserve(key, version, size) {
        const r = await this.call('reserve', 'POST', 'caches', { key, version, ...(size !== undefined ? { cacheSize: size } : {}) });
        const id = r.json?.cacheId;
        if (r.status === 409 || (r.status < 300 && typeof id !== 'number' && typeof id !== 'string'))
            return { refused: `the cache service did not reserve ${key} (HTTP ${r.status}: another job may be saving it, or it exists)` };
        if (r.status >= 300) {
            const msg = r.json?.message;
            return { refused: `the cache service refused to reserve ${key}: HTTP ${r.status} ${shown(fieldText(msg ?? ''))}` };
        }
        return { id: id };
    }
    async patch(id, start, end, body) {
        await withRetries(`uploading bytes ${start}-${end - 1}`, async () => {
            const res = await sendStream('PATCH', `${this.svc.url}_apis/artifactcache/caches/${String(id)}`, { ...this.headers(false), 'Content-Type': 'application/octet-stream', 'Content-Range': `bytes ${start}-${end - 1}/*` }, body, end - start);
            if (res.status < 200 || res.status >= 300)
                throw new HttpError(res.status, `PATCH bytes ${start}-${end - 1}: HTTP ${res.status} ${shown(res.text)}`);
        });
    }
    async begin(key, version) {
        // No cacheSize: it is not known before the end (the field is optional, as in older @actions/cache).
        const r = await this.reserve(key, version);
        if ('refused' in r)
            return r;
        return {
            ordered: true,
            put: async (data, offset) => {
                if (offset === undefined)
                    throw new Error('v1 upload: a block without its offset');
                await this.patch(r.id, offset, offset + lengthOf(data), () => external_node_stream_.Readable.from(data));
                return String(offset);
            },
            commit: (_refs, size) => this.commit(key, r.id, size)
        };
    }
}


;// CONCATENATED MODULE: ./src/store/entry/format.ts
// The "runbox entry v2" container: the one blob a snapshot is stored as in the cache service.
//
//   [file 0][file 1]...[file n-1][index JSON][signature][trailer 32 bytes]
//
// trailer: ASCII `RBXENT02` | index length u64 LE | signature length u32 LE | u32 0 | 8 zero bytes.
// index: UTF-8 JSON {"files":[{"name","offset","length","sha256","chunks"}...]}, offsets contiguous
// from 0; `chunks` holds the sha256 of each CHUNK_BYTES piece of the file (the last one shorter),
// so a reader can prove each piece before it hands a byte of it on, without a copy of the file.
// signature: absent, or 32-byte ed25519 public key | 64-byte signature over SIGNED_PREFIX + index.
//
// This module holds the format only (parsing and encoding, every bound checked); what to trust and
// where to write is decided by reader.ts / writer.ts and their callers, as node-tar keeps its
// header parser apart from extraction policy. Everything here treats its input as hostile.

const MAGIC = Buffer.from('RBXENT02', 'ascii');
const TRAILER_BYTES = 32;
const SIGNATURE_BYTES = 96;
const PUBLIC_KEY_BYTES = 32;
const format_MAX_FILES = 256;
/** No snapshot is this big; a blob claiming more is refused before a byte of it is written. */
const format_MAX_ENTRY_BYTES = 64 * 2 ** 30;
/** The piece of a file each index digest covers: what a streaming reader holds in memory per file until it is proven. */
const CHUNK_BYTES = 4 * 2 ** 20;
/**
 * A maximal entry needs MAX_ENTRY_BYTES / CHUNK_BYTES (16384) chunk digests of 67 JSON bytes
 * (1.1 MB) plus MAX_FILES file records: 2 MiB holds that with room to spare.
 */
const format_MAX_INDEX_BYTES = 2 * 2 ** 20;
const SIGNED_PREFIX = Buffer.from('runbox-entry-v2\0', 'ascii');
const format_NAME_PATTERN = /^(db\/)?[A-Za-z0-9][A-Za-z0-9._-]*$/;
const MANIFEST_NAME = 'manifest.json';
/** Pieces a file of `length` bytes is digested in. */
function format_chunkCount(length) {
    return Math.ceil(length / CHUNK_BYTES);
}
/** The entry's bytes are not a well-formed runbox entry v2. */
class EntryFormatError extends Error {
    constructor(message) {
        super(message);
        this.name = 'EntryFormatError';
    }
}
/** The entry is well-formed but not signed by a key in trusted-keys. */
class EntryTrustError extends Error {
    constructor(message) {
        super(message);
        this.name = 'EntryTrustError';
    }
}
/** A file's bytes do not match the index (length or sha256). */
class format_EntryIntegrityError extends Error {
    constructor(message) {
        super(message);
        this.name = 'EntryIntegrityError';
    }
}
function format_encodeTrailer(t) {
    const b = Buffer.alloc(TRAILER_BYTES);
    MAGIC.copy(b, 0);
    b.writeBigUInt64LE(BigInt(t.indexLength), 8);
    b.writeUInt32LE(t.signatureLength, 16);
    return b;
}
/** Checks the trailer of a blob of `size` bytes; the index and signature lengths it gives fit in the blob. */
function decodeTrailer(b, size) {
    if (b.length !== TRAILER_BYTES)
        throw new EntryFormatError(`the trailer is ${b.length} bytes, not ${TRAILER_BYTES}`);
    if (!b.subarray(0, 8).equals(MAGIC))
        throw new EntryFormatError('the blob does not end in a runbox entry v2 trailer (an older or foreign cache entry)');
    if (b.readUInt32LE(20) !== 0 || !b.subarray(24).equals(Buffer.alloc(8)))
        throw new EntryFormatError('the trailer has non-zero reserved bytes');
    const indexLength64 = b.readBigUInt64LE(8);
    if (indexLength64 > BigInt(format_MAX_INDEX_BYTES))
        throw new EntryFormatError(`the index is ${indexLength64} bytes, more than the ${format_MAX_INDEX_BYTES} allowed`);
    const indexLength = Number(indexLength64);
    if (indexLength < 2)
        throw new EntryFormatError(`the index is ${indexLength} bytes, too short to be JSON`);
    const signatureLength = b.readUInt32LE(16);
    if (signatureLength !== 0 && signatureLength !== SIGNATURE_BYTES)
        throw new EntryFormatError(`the signature is ${signatureLength} bytes, not 0 or ${SIGNATURE_BYTES}`);
    if (indexLength + signatureLength + TRAILER_BYTES > size)
        throw new EntryFormatError(`the index (${indexLength} bytes) and signature (${signatureLength}) do not fit in the ${size}-byte blob`);
    return { indexLength, signatureLength };
}
const FIELDS = ['chunks', 'length', 'name', 'offset', 'sha256'];
const SHA256_HEX = /^[0-9a-f]{64}$/;
/**
 * Parses the index strictly: exact keys, names from NAME_PATTERN and unique, offsets contiguous
 * from 0 in order, lengths summing to exactly `dataBytes` (the bytes before the index: nothing
 * trailing, nothing overlapping, no gap). Call only after the trailer (and signature) checks.
 */
function parseIndex(bytes, dataBytes) {
    if (bytes.length > format_MAX_INDEX_BYTES)
        throw new EntryFormatError(`the index is ${bytes.length} bytes, more than ${format_MAX_INDEX_BYTES}`);
    let text;
    try {
        text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
    }
    catch {
        throw new EntryFormatError('the index is not valid UTF-8');
    }
    let raw;
    try {
        raw = JSON.parse(text);
    }
    catch {
        throw new EntryFormatError('the index is not JSON');
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
        throw new EntryFormatError('the index is not a JSON object');
    const keys = Object.keys(raw);
    if (keys.length !== 1 || keys[0] !== 'files')
        throw new EntryFormatError('the index must hold exactly one field, "files"');
    const list = raw.files;
    if (!Array.isArray(list))
        throw new EntryFormatError('"files" is not a list');
    if (list.length === 0)
        throw new EntryFormatError('the index lists no file');
    if (list.length > format_MAX_FILES)
        throw new EntryFormatError(`the index lists ${list.length} files, more than ${format_MAX_FILES}`);
    const seen = new Set();
    const files = [];
    let next = 0;
    for (const [i, f] of list.entries()) {
        if (typeof f !== 'object' || f === null || Array.isArray(f))
            throw new EntryFormatError(`files[${i}] is not an object`);
        const fk = Object.keys(f).sort();
        if (fk.length !== FIELDS.length || fk.some((k, j) => k !== FIELDS[j]))
            throw new EntryFormatError(`files[${i}] must have exactly the fields ${FIELDS.join(', ')}`);
        const { name, offset, length, sha256, chunks } = f;
        if (typeof name !== 'string' || !format_NAME_PATTERN.test(name))
            throw new EntryFormatError(`files[${i}] has the name ${typeof name === 'string' ? shown(name) : typeof name}, which is not a plain snapshot file name`);
        if (seen.has(name))
            throw new EntryFormatError(`files[${i}]: ${name} is listed twice`);
        seen.add(name);
        if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset !== next)
            throw new EntryFormatError(`files[${i}] (${name}) starts at ${typeof offset === 'number' ? offset : typeof offset}, not at ${next} where the previous file ends`);
        if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0 || length > dataBytes - offset)
            throw new EntryFormatError(`files[${i}] (${name}) has the length ${typeof length === 'number' ? length : typeof length}, which does not fit before the index`);
        if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256))
            throw new EntryFormatError(`files[${i}] (${name}) has no lowercase hex sha256`);
        if (!Array.isArray(chunks) || chunks.length !== format_chunkCount(length))
            throw new EntryFormatError(`files[${i}] (${name}) does not list exactly ${format_chunkCount(length)} chunk digests (one per ${CHUNK_BYTES} bytes)`);
        if (!chunks.every((c) => typeof c === 'string' && SHA256_HEX.test(c)))
            throw new EntryFormatError(`files[${i}] (${name}) has a chunk digest that is no lowercase hex sha256`);
        files.push({ name, offset, length, sha256, chunks });
        next = offset + length;
    }
    if (next !== dataBytes)
        throw new EntryFormatError(`the files end at byte ${next}, but the index starts at byte ${dataBytes}: ${dataBytes - next} bytes are unaccounted for`);
    // A file named `db` next to files under `db/` could not both exist: refuse rather than pick one.
    if (seen.has('db') && files.some((f) => f.name.startsWith('db/')))
        throw new EntryFormatError('the index lists both a file db and files under db/');
    if (!seen.has(MANIFEST_NAME))
        throw new EntryFormatError(`the index lists no ${MANIFEST_NAME}`);
    return files;
}
function format_encodeIndex(files) {
    return Buffer.from(JSON.stringify({ files: files.map(({ name, offset, length, sha256, chunks }) => ({ name, offset, length, sha256, chunks })) }), 'utf8');
}

;// CONCATENATED MODULE: ./src/store/entry/signing.ts
// ed25519 signatures over an entry's index. The index holds every file's sha256, so a good
// signature over it covers every byte the reader writes. Keys are the user's: `signing-key` is a
// PKCS#8 PEM private key (`openssl genpkey -algorithm ed25519`, or tools/keygen.mjs), and
// `trusted-keys` lines are `ed25519:<base64 of the raw 32-byte public key>`.


const KEY_PREFIX = 'ed25519:';
/** The signing key from PEM, or a reason it is unusable (never echoing the key material). */
function parsePrivateKey(pem) {
    let key;
    try {
        key = (0,external_node_crypto_.createPrivateKey)({ key: pem.replace(/\r\n/g, '\n'), format: 'pem' });
    }
    catch (e) {
        return `it is not a PEM private key (${e instanceof Error ? e.message.replace(/\s+/g, ' ') : 'unreadable'})`;
    }
    if (key.asymmetricKeyType !== 'ed25519')
        return `it is a ${String(key.asymmetricKeyType)} key, not ed25519`;
    return key;
}
function rawPublic(key) {
    const jwk = (0,external_node_crypto_.createPublicKey)(key).export({ format: 'jwk' });
    if (typeof jwk.x !== 'string')
        throw new Error('ed25519 public key without x');
    return Buffer.from(jwk.x, 'base64url');
}
function keyIdOf(raw) {
    return `${KEY_PREFIX}${raw.toString('base64')}`;
}
/** The trusted-keys line for a private (or public) key. */
function signing_publicKeyLine(key) {
    return keyIdOf(rawPublic(key));
}
function publicFromRaw(raw) {
    return (0,external_node_crypto_.createPublicKey)({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}
/** One trusted-keys line, or a reason it is not one. */
function parseTrustedKey(line) {
    if (!line.startsWith(KEY_PREFIX))
        return `'${line.slice(0, 20)}...' does not start with ${KEY_PREFIX}`;
    const b64 = line.slice(KEY_PREFIX.length);
    if (!/^[A-Za-z0-9+/]{43}=$/.test(b64))
        return `'${line.slice(0, 60)}' is not ${KEY_PREFIX} followed by the base64 of 32 bytes`;
    const raw = Buffer.from(b64, 'base64');
    if (raw.length !== PUBLIC_KEY_BYTES)
        return `'${line}' does not decode to ${PUBLIC_KEY_BYTES} bytes`;
    try {
        return { id: keyIdOf(raw), raw, key: publicFromRaw(raw) };
    }
    catch (e) {
        return `'${line}' is not an ed25519 public key (${e instanceof Error ? e.message : 'unreadable'})`;
    }
}
/** The 96-byte signature block for an index. */
function signing_signIndex(privateKey, index) {
    const sig = (0,external_node_crypto_.sign)(null, Buffer.concat([SIGNED_PREFIX, index]), privateKey);
    const out = Buffer.concat([rawPublic(privateKey), sig]);
    if (out.length !== SIGNATURE_BYTES)
        throw new Error(`ed25519 signature block is ${out.length} bytes`);
    return out;
}
/**
 * Checks the signature block against trusted keys, before anything parses the index. Returns the
 * signer's key id; throws EntryTrustError naming the key (its id is base64: safe to print).
 */
function checkSignature(signature, index, trusted) {
    if (signature.length === 0)
        throw new EntryTrustError('the entry is not signed, and trusted-keys is set');
    if (signature.length !== SIGNATURE_BYTES)
        throw new EntryTrustError(`the signature block is ${signature.length} bytes, not ${SIGNATURE_BYTES}`);
    const raw = signature.subarray(0, PUBLIC_KEY_BYTES);
    const id = keyIdOf(raw);
    const key = trusted.find((k) => k.raw.equals(raw));
    if (!key)
        throw new EntryTrustError(`the entry is signed by ${id}, which is not in trusted-keys`);
    if (!(0,external_node_crypto_.verify)(null, Buffer.concat([SIGNED_PREFIX, index]), key.key, signature.subarray(PUBLIC_KEY_BYTES)))
        throw new EntryTrustError(`the signature by ${id} does not match the entry's index (tampered, or not made by that key)`);
    return id;
}

;// CONCATENATED MODULE: ./src/store/presets.ts
// What differs between Guix and Nix: where the store and its daemon DB live, the daemon's
// systemd unit, and how to ask the tool for its version (part of the default cache key, since a
// DB written by one daemon version may not be readable by an older one).




const PRESETS = {
    guix: {
        kind: 'guix',
        storeDir: '/gnu/store',
        dbDir: '/var/guix/db',
        daemonUnit: 'guix-daemon',
        versionCommand: ['guix', ['--version']]
    },
    nix: {
        kind: 'nix',
        storeDir: '/nix/store',
        dbDir: '/nix/var/nix/db',
        daemonUnit: 'nix-daemon',
        versionCommand: ['nix-store', ['--version']]
    }
};
/** `guix (GNU Guix) 1.4.0` / `nix-store (Nix) 2.8.0` -> `1.4.0` / `2.8.0`; anything odd -> undefined. */
function parseToolVersion(output) {
    const first = output.split('\n')[0] ?? '';
    const m = /(\d+(?:\.\d+)+(?:[-+.][0-9A-Za-z.+-]*)?)\s*$/.exec(first.trim());
    if (!m)
        return undefined;
    // The version becomes part of a cache key: keep it short and free of commas and spaces.
    const v = m[1].replace(/[^0-9A-Za-z.+_-]/g, '').slice(0, 40);
    return v === '' ? undefined : v;
}
/** The installed tool's version, or undefined when the tool is missing or says something odd. */
async function toolVersion(kind) {
    const [cmd, args] = PRESETS[kind].versionCommand;
    try {
        const r = await run(cmd, args, { allowFailure: true });
        return r.code === 0 ? parseToolVersion(r.stdout) : undefined;
    }
    catch (e) {
        // Starting it fails with ENOENT when the tool is not installed: a fresh runner restoring its
        // first store has no tool yet, which is a normal case, not an error.
        if (e.code === 'ENOENT')
            return undefined;
        // EACCES: some PATH entry stopped the lookup (a dir this user cannot search, or a file of
        // that name without the x bit). A bare `spawn guix EACCES` names neither, so say which.
        if (e.code === 'EACCES') {
            core_warning(`runbox store: cannot run ${cmd} to read its version (EACCES): ${blockedPathEntries(cmd).join('; ') || 'no PATH entry explains it'}. ` +
                `The key leaves the version out. Fix that entry's permissions or take it out of PATH for this job`);
            return undefined;
        }
        throw e;
    }
}
/** The PATH entries that make a lookup of `cmd` fail with EACCES, each with the reason. */
function blockedPathEntries(cmd, envPath = process.env.PATH ?? '') {
    const out = [];
    for (const dir of envPath.split(':').filter((d) => d !== '')) {
        const file = external_node_path_default().join(dir, cmd);
        try {
            external_node_fs_default().accessSync(dir, (external_node_fs_default()).constants.X_OK);
        }
        catch (e) {
            if (e.code === 'EACCES')
                out.push(`PATH entry ${dir} is not searchable by uid ${process.getuid?.() ?? '?'}`);
            continue;
        }
        let st;
        try {
            st = external_node_fs_default().statSync(file);
        }
        catch (e) {
            const code = e.code;
            if (code === 'EACCES')
                out.push(`${file} cannot be reached by uid ${process.getuid?.() ?? '?'}`);
            else if (code !== 'ENOENT' && code !== 'ENOTDIR')
                out.push(`${file}: ${code ?? String(e)}`);
            continue;
        }
        if (!st.isFile() || (st.mode & 0o111) === 0)
            out.push(`${file} is not an executable file (mode ${(st.mode & 0o7777).toString(8)})`);
    }
    return out;
}

;// CONCATENATED MODULE: ./src/store/members.ts

const BLOCK = 512;
/** pax and long-name payloads are names, not data; anything bigger is an attack or garbage. */
const MAX_META = 1024 * 1024;
class TarFormatError extends Error {
    constructor(message) {
        super(message);
        this.name = 'TarFormatError';
    }
}
class UnsafeArchiveError extends Error {
    member;
    constructor(member, reason) {
        // The name is the snapshot's: escaped, so it can neither break the log line nor the summary.
        super(`member '${escapedText(member).replace(/'/g, "\\'")}' ${reason}`);
        this.member = member;
        this.name = 'UnsafeArchiveError';
    }
}
// Names must decode exactly: a lossy decode (invalid UTF-8 -> U+FFFD) would make the checks,
// the exclude list and the disk probes talk about a different byte string than tar extracts.
const utf8 = new TextDecoder('utf-8', { fatal: true });
function decodeName(bytes) {
    try {
        return utf8.decode(bytes);
    }
    catch {
        throw new TarFormatError(`a member name is not valid UTF-8 (${Buffer.from(bytes).toString('latin1').slice(0, 80)})`);
    }
}
function cstring(buf, start, len) {
    const end = buf.indexOf(0, start);
    return decodeName(buf.subarray(start, end === -1 || end > start + len ? start + len : end));
}
/** Octal (with NUL/space padding) or GNU base-256 (high bit set) numeric field. */
function parseNumeric(buf, start, len, field) {
    const first = buf[start];
    if (first & 0x80) {
        if (first === 0xff)
            throw new TarFormatError(`negative base-256 ${field}`);
        let v = first & 0x7f;
        for (let i = start + 1; i < start + len; i++)
            v = v * 256 + buf[i];
        if (!Number.isSafeInteger(v))
            throw new TarFormatError(`${field} too large`);
        return v;
    }
    const s = buf
        .toString('latin1', start, start + len)
        .replace(/[\0 ]+$/, '')
        .replace(/^ +/, '');
    if (s === '')
        return 0;
    if (!/^[0-7]+$/.test(s))
        throw new TarFormatError(`bad octal ${field} '${escapedText(s)}'`);
    const v = parseInt(s, 8);
    if (!Number.isSafeInteger(v))
        throw new TarFormatError(`${field} too large`);
    return v;
}
function checksumOk(h) {
    const stored = parseNumeric(h, 148, 8, 'checksum');
    let unsigned = 0;
    let signed = 0;
    for (let i = 0; i < BLOCK; i++) {
        const b = i >= 148 && i < 156 ? 0x20 : h[i];
        unsigned += b;
        signed += b > 127 ? b - 256 : b;
    }
    return stored === unsigned || stored === signed;
}
/** pax extended header records: `<len> <key>=<value>\n`, len counting the whole record. */
function parsePax(data) {
    const out = new Map();
    let off = 0;
    while (off < data.length) {
        if (data[off] === 0)
            break; // NUL padding after the last record
        const sp = data.indexOf(0x20, off);
        if (sp === -1)
            throw new TarFormatError('pax record without length');
        const lenStr = data.toString('latin1', off, sp);
        if (!/^[1-9][0-9]*$/.test(lenStr))
            throw new TarFormatError(`bad pax record length '${escapedText(lenStr)}'`);
        const len = Number(lenStr);
        if (off + len > data.length || data[off + len - 1] !== 0x0a)
            throw new TarFormatError('pax record overruns its header');
        const rec = decodeName(data.subarray(sp + 1, off + len - 1));
        const eq = rec.indexOf('=');
        if (eq <= 0)
            throw new TarFormatError('pax record without key');
        // GNU tar takes the last of a repeated key; refused, so no reader has to choose.
        if (out.has(rec.slice(0, eq)))
            throw new TarFormatError(`pax key '${escapedText(rec.slice(0, eq), 60)}' given twice`);
        out.set(rec.slice(0, eq), rec.slice(eq + 1));
        off += len;
    }
    return out;
}
/** pax keys GNU tar writes for runbox's archives (--format=posix); any other key is refused,
 * so no record that tar would act on and this parser would ignore can exist. */
const PAX_KEYS = new Set(['path', 'linkpath', 'size', 'mtime', 'uid', 'gid', 'uname', 'gname', 'atime', 'ctime']);
/** Bytes an archive may carry after its end-of-archive block: tar's padding to its record
 * size (10240 bytes by default; 1 MiB is a blocking factor of 2048). */
const MAX_TRAILER_BYTES = 1024 * 1024;
/**
 * Push parser: write() chunks of the uncompressed tar stream, then end(). Throws TarFormatError.
 * `onMember` sees each member's header (extended headers applied); `onData` then gets exactly its
 * `size` data bytes, in order, without the padding, as views of the chunk written. Nothing of a
 * chunk is kept once write() returns.
 *
 * Stricter than GNU tar wherever the two could read the same bytes differently: at most one pax
 * `x` header per member and never together with a GNU long-name record (tar keeps only the last
 * of two, a merging reader would see both), at most one `L` and one `K`, only known pax keys.
 */
class TarParser {
    onMember;
    onData;
    state = 'header';
    header = Buffer.alloc(BLOCK);
    headerFill = 0;
    remaining = 0; // bytes left in the current state ('data', 'skip' or 'collect')
    padding = 0; // skipped after a collected payload or a member's data
    collected = [];
    collectKind = '';
    pax;
    longName;
    longLink;
    /** Bytes after the end-of-archive block so far (see MAX_TRAILER_BYTES). */
    trailerBytes = 0;
    offset = 0;
    constructor(onMember, onData) {
        this.onMember = onMember;
        this.onData = onData;
    }
    write(chunk) {
        let off = 0;
        while (off < chunk.length) {
            if (this.state === 'header') {
                const n = Math.min(BLOCK - this.headerFill, chunk.length - off);
                chunk.copy(this.header, this.headerFill, off, off + n);
                this.headerFill += n;
                off += n;
                if (this.headerFill === BLOCK) {
                    this.headerFill = 0;
                    this.onHeader();
                    this.offset += BLOCK;
                }
            }
            else if (this.state === 'data') {
                const n = Math.min(this.remaining, chunk.length - off);
                this.onData?.(chunk.subarray(off, off + n));
                this.remaining -= n;
                off += n;
                this.offset += n;
                if (this.remaining === 0)
                    this.afterPayload();
            }
            else if (this.state === 'skip') {
                const n = Math.min(this.remaining, chunk.length - off);
                this.remaining -= n;
                off += n;
                this.offset += n;
                if (this.remaining === 0)
                    this.state = 'header';
            }
            else if (this.state === 'collect') {
                const n = Math.min(this.remaining, chunk.length - off);
                // A copy: the caller may reuse the chunk's memory once write() returns (a pax or
                // long-name payload can span writes).
                this.collected.push(Buffer.from(chunk.subarray(off, off + n)));
                this.remaining -= n;
                off += n;
                this.offset += n;
                if (this.remaining === 0)
                    this.onPayload();
            }
            else {
                // GNU tar stops at the first zero block. Anything but zeros after it would be data
                // that tar ignores and a laxer reader might not: refuse rather than guess. Zeros too,
                // past what tar pads an archive with: no data bound counts them, and a frame of a few
                // MB decompresses to TBs of them (a lane, and the host's restore lock, held for hours).
                this.trailerBytes += chunk.length - off;
                if (this.trailerBytes > MAX_TRAILER_BYTES)
                    throw new TarFormatError(`more than ${MAX_TRAILER_BYTES} bytes after the end-of-archive block (tar pads an archive to its record size, 10240 bytes unless told otherwise)`);
                for (let i = off; i < chunk.length; i++)
                    if (chunk[i] !== 0)
                        throw new TarFormatError(`non-zero data after the end-of-archive block at offset ${this.offset + i - off}`);
                this.offset += chunk.length - off;
                off = chunk.length;
            }
        }
    }
    /** True once the end-of-archive block went by: tar reads nothing after it. */
    get ended() {
        return this.state === 'trailer';
    }
    end() {
        if (this.state !== 'trailer')
            throw new TarFormatError(`archive ends early (truncated at offset ${this.offset + this.headerFill})`);
    }
    get pending() {
        return this.pax !== undefined || this.longName !== undefined || this.longLink !== undefined;
    }
    onHeader() {
        const h = this.header;
        if (h.every((b) => b === 0)) {
            if (this.pending)
                throw new TarFormatError('extended header without a member');
            this.state = 'trailer';
            return;
        }
        if (!checksumOk(h))
            throw new TarFormatError(`header checksum mismatch at offset ${this.offset}`);
        const magic = h.toString('latin1', 257, 263);
        const ustar = magic === 'ustar\0';
        if (!ustar && magic !== 'ustar ')
            throw new TarFormatError(`not a ustar/GNU header at offset ${this.offset} (magic '${escapedText(magic)}')`);
        const type = String.fromCharCode(h[156]);
        let size = parseNumeric(h, 124, 12, 'size');
        if (type === 'x' || type === 'L' || type === 'K') {
            // GNU tar applies only the last of two pax headers (or long names) in a row; refusing any
            // such pair leaves nothing to disagree about.
            if (this.pax !== undefined || (type === 'x' && this.pending))
                throw new TarFormatError(`a '${type}' header follows another extended header at offset ${this.offset}`);
            if ((type === 'L' && this.longName !== undefined) || (type === 'K' && this.longLink !== undefined))
                throw new TarFormatError(`two '${type}' long-name records in a row at offset ${this.offset}`);
            if (size > MAX_META)
                throw new TarFormatError(`${type} header of ${size} bytes`);
            this.collectKind = type;
            this.remaining = size;
            this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
            this.collected = [];
            this.state = 'collect';
            if (size === 0)
                this.onPayload();
            return;
        }
        if (type === 'g')
            throw new TarFormatError('pax global header (runbox never writes one)');
        const pax = this.pax ?? new Map();
        const paxSize = pax.get('size');
        if (paxSize !== undefined) {
            if (!/^(0|[1-9][0-9]*)$/.test(paxSize) || !Number.isSafeInteger(Number(paxSize)))
                throw new TarFormatError(`bad pax size '${escapedText(paxSize)}'`);
            size = Number(paxSize);
        }
        const rawName = cstring(h, 0, 100);
        const prefix = ustar ? cstring(h, 345, 155) : '';
        const name = pax.get('path') ?? this.longName ?? (prefix ? `${prefix}/${rawName}` : rawName);
        const linkname = pax.get('linkpath') ?? this.longLink ?? cstring(h, 157, 100);
        this.pax = undefined;
        this.longName = undefined;
        this.longLink = undefined;
        const regular = type === '0' || type === '\0';
        // tar's idea of how much data follows must match ours; only regular files carry data here.
        if (!regular && size !== 0)
            throw new TarFormatError(`member '${escapedText(name)}' of type '${escapedText(type)}' claims ${size} bytes of data`);
        this.onMember({
            name,
            type,
            linkname,
            size,
            mode: parseNumeric(h, 100, 8, 'mode'),
            uid: parseNumeric(h, 108, 8, 'uid'),
            gid: parseNumeric(h, 116, 8, 'gid')
        });
        this.remaining = size;
        this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
        if (size > 0)
            this.state = 'data';
        else
            this.afterPayload();
    }
    afterPayload() {
        this.remaining = this.padding;
        this.padding = 0;
        this.state = this.remaining > 0 ? 'skip' : 'header';
    }
    onPayload() {
        const data = Buffer.concat(this.collected);
        this.collected = [];
        if (this.collectKind === 'x') {
            const pax = parsePax(data);
            for (const k of pax.keys()) {
                if (k.startsWith('GNU.sparse'))
                    throw new TarFormatError('sparse member (runbox never writes one)');
                if (!PAX_KEYS.has(k))
                    throw new TarFormatError(`pax record '${escapedText(k, 60)}' is not one runbox's archives hold`);
            }
            this.pax = pax;
        }
        else {
            const end = data.indexOf(0);
            const s = decodeName(data.subarray(0, end === -1 ? data.length : end));
            if (this.collectKind === 'L')
                this.longName = s;
            else
                this.longLink = s;
        }
        this.afterPayload();
    }
}
/**
 * A top-level store entry named `<anything>.lock`. The daemons lock a store path P by opening
 * `P.lock` beside it as root (O_RDWR|O_CREAT, following symlinks) and write "d" into it when
 * done. Whatever a snapshot puts there is turned against root: a symlink has the daemon create
 * or write a file anywhere on the host, a dir makes every build of P fail, and a non-empty
 * regular file makes the daemon take it for a stale lock and retry forever whenever it locks P.
 * A real item can have that name too (a `Cargo.lock` or `flake.lock` added to the store), and
 * no check tells the two apart, so no such entry is ever restored: save leaves them out, restore
 * drops them (with a warning) rather than refusing the snapshot, because snapshots saved before
 * this rule hold such real items, and refusing those would make their keys misses for good (the
 * cache service keeps the entry and refuses a new save under the same key).
 */
function isDaemonLockName(top) {
    return top.endsWith('.lock');
}
const TYPE_NAMES = {
    '3': 'a character device',
    '4': 'a block device',
    '6': 'a FIFO',
    '7': 'a contiguous file',
    S: 'a sparse file',
    D: 'a GNU dump dir',
    M: 'a multi-volume continuation',
    V: 'a volume label'
};
/**
 * Longest path and path component Linux takes (PATH_MAX - 1, NAME_MAX): nothing longer can be
 * a store file, and a long-name record of up to MAX_META bytes would otherwise be kept (in the
 * checks' bookkeeping and the stream) for every member tar then fails to create.
 */
const MAX_PATH_BYTES = 4095;
const MAX_NAME_BYTES = 255;
/** The member path, checked: relative, normalised, no `.`/`..`/empty components, within Linux's lengths. */
function checkMemberPath(raw, what) {
    const p = raw.endsWith('/') ? raw.slice(0, -1) : raw;
    if (p === '')
        throw new UnsafeArchiveError(raw, `has an empty ${what}`);
    if (p.startsWith('/'))
        throw new UnsafeArchiveError(raw, `has an absolute ${what}`);
    if (/[\0\n]/.test(p))
        throw new UnsafeArchiveError(raw, `has a NUL or newline in its ${what}`);
    const bytes = Buffer.byteLength(p);
    if (bytes > MAX_PATH_BYTES)
        throw new UnsafeArchiveError(raw, `has a ${what} of ${bytes} bytes, longer than the ${MAX_PATH_BYTES} Linux takes`);
    for (const c of p.split('/')) {
        if (c === '' || c === '.' || c === '..')
            throw new UnsafeArchiveError(raw, `has a '${c === '' ? '//' : c}' component in its ${what}`);
        if (Buffer.byteLength(c) > MAX_NAME_BYTES)
            throw new UnsafeArchiveError(raw, `has a component of ${Buffer.byteLength(c)} bytes in its ${what}, longer than the ${MAX_NAME_BYTES} Linux takes`);
    }
    return p;
}
function ancestors(p) {
    const out = [];
    for (let i = p.indexOf('/'); i !== -1; i = p.indexOf('/', i + 1))
        out.push(p.slice(0, i));
    return out;
}
/**
 * Checks every member against the rules as the stream goes by; the first violation rejects
 * the whole archive (UnsafeArchiveError) and stops reading. check() returns the member as the
 * canonical writer takes it (undefined for a store path's own dir, which the restore makes
 * itself). Nothing here touches the disk.
 *
 * Order: a member's parent dir must be an earlier member of the same archive (or a store path),
 * as in every archive runbox writes (tree order), so tar never creates a dir on its own with
 * default metadata and the walk of what landed can expect exactly the members emitted.
 */
class MemberValidator {
    rules;
    roots;
    seenRoots = new Set();
    symlinks = new Set();
    dirs = new Set();
    /** Regular-file members (not links) seen so far: the only targets a hard link may name, with
     * the executable bit the link's canonical header repeats. */
    files = new Map();
    seen = new Set();
    summary = { members: 0, dataBytes: 0, roots: [], tops: new Set(), bitsDropped: 0, bitsDroppedIn: [], symlinkTops: new Set(), links: 0, lockDropped: new Set() };
    constructor(rules) {
        this.rules = rules;
        this.roots = rules.storePaths.map((p) => p.replace(/^\/+/, '').replace(/\/+$/, ''));
        if (this.roots.some((r) => r === ''))
            throw new Error('a store path of / cannot be validated');
    }
    rootOf(p) {
        return this.roots.find((r) => p === r || p.startsWith(`${r}/`));
    }
    check(m) {
        const p = checkMemberPath(m.name, 'path');
        const root = this.rootOf(p);
        if (root === undefined)
            throw new UnsafeArchiveError(m.name, `path '${escapedText(p)}' lies outside the store paths (${this.rules.storePaths.join(', ')})`);
        if (this.rules.reserved?.(`/${p}`))
            throw new UnsafeArchiveError(m.name, `path '${escapedText(p)}' is the daemon's live database, which is never extracted`);
        // tar resolves every parent of a name on disk: one that an earlier member made a symlink
        // would send this member wherever that symlink points.
        for (const a of ancestors(p))
            if (this.symlinks.has(a))
                throw new UnsafeArchiveError(m.name, `path '${escapedText(p)}' would be written through the symlink member '${escapedText(a)}'`);
        const kind = m.type === '\0' ? '0' : m.type;
        if (!['0', '1', '2', '5'].includes(kind))
            throw new UnsafeArchiveError(m.name, `is ${TYPE_NAMES[kind] ?? `of unknown type '${escapedText(kind)}'`}`);
        // GNU tar makes a dir of any member whose name ends in `/` and reads its data as headers.
        if (m.name.endsWith('/') && kind !== '5')
            throw new UnsafeArchiveError(m.name, 'has a name ending in / but is not a directory');
        if (this.seen.has(p))
            throw new UnsafeArchiveError(m.name, 'appears twice in the archive');
        // Checked before anything is counted: the link's target must already be a regular file of
        // this archive's stream, so the link can only ever name a file runbox itself wrote (and the
        // restore checks that it did, as the target's item may have been skipped).
        const linkTarget = kind === '1' ? this.checkLinkTarget(m, p) : undefined;
        this.seen.add(p);
        if (p === root && kind !== '5')
            throw new UnsafeArchiveError(m.name, 'is the store path itself but not a directory');
        this.seenRoots.add(root);
        this.summary.members++;
        this.summary.dataBytes += m.size;
        if (kind === '5')
            this.dirs.add(p);
        if (kind === '0')
            this.files.set(p, (m.mode & 0o111) !== 0);
        // The store dir's own member is never extracted (restore makes the dir itself).
        if (p === root)
            return undefined;
        // A link's header mode is never applied (tar links, the inode keeps its target's mode).
        if ((m.mode & 0o7000) !== 0 && kind !== '1') {
            for (const bit of [0o4000, 0o2000, 0o1000])
                if (m.mode & bit)
                    this.summary.bitsDropped++;
            if (this.summary.bitsDroppedIn.length < 5)
                this.summary.bitsDroppedIn.push(p);
        }
        const rest = p.slice(root.length + 1).split('/');
        const top = `${root}/${rest[0]}`;
        // Dot-entries (`.links`, a restore's private dir) are the daemon's or runbox's own; snapshots hold none.
        if (rest[0].startsWith('.'))
            throw new UnsafeArchiveError(m.name, `lies in '${escapedText(top)}', a dot-entry of the store dir, which snapshots never hold`);
        const parent = p.slice(0, p.lastIndexOf('/'));
        if (parent !== root && !this.dirs.has(parent))
            throw new UnsafeArchiveError(m.name, `comes before its parent dir '${escapedText(parent)}' (or that is no dir of the archive)`);
        let target;
        if (kind === '2') {
            this.symlinks.add(p);
            if (m.linkname === '' || /[\0\n]/.test(m.linkname))
                throw new UnsafeArchiveError(m.name, 'is a symlink with an empty target or one holding a NUL or newline');
            if (Buffer.byteLength(m.linkname) > MAX_PATH_BYTES)
                throw new UnsafeArchiveError(m.name, `is a symlink whose target is ${Buffer.byteLength(m.linkname)} bytes, longer than the ${MAX_PATH_BYTES} Linux takes`);
            target = m.linkname;
        }
        // Checked like every member above (so nothing under it, or linking through it, escapes the
        // rules), then left out of the stream with everything in it: see isDaemonLockName.
        if (isDaemonLockName(rest[0])) {
            this.summary.lockDropped.add(top);
            return undefined;
        }
        this.summary.tops.add(top);
        if (kind === '2' && rest.length === 1)
            this.summary.symlinkTops.add(top);
        if (linkTarget !== undefined) {
            this.summary.links++;
            return { path: p, kind: 'link', size: 0, executable: this.files.get(linkTarget) === true, target: linkTarget };
        }
        return {
            path: p,
            kind: kind === '0' ? 'file' : kind === '5' ? 'dir' : 'symlink',
            size: m.size,
            executable: kind === '0' && (m.mode & 0o111) !== 0,
            ...(target !== undefined ? { target } : {})
        };
    }
    /**
     * A hard link's target, checked: exactly the path of an earlier regular-file member of this
     * archive. Not a dir, symlink or device (only regular files are in `files`), not a path later
     * in the stream (tar would link to whatever is on disk by then), not another link (tar writes
     * every link to the first name, so a chain is never ours), not a path of another archive or
     * of the disk (each archive's set is its own), never through a symlink member.
     */
    checkLinkTarget(m, p) {
        const raw = m.linkname;
        let t;
        try {
            t = checkMemberPath(raw, 'hard link target');
        }
        catch (e) {
            if (!(e instanceof UnsafeArchiveError))
                throw e;
            // Named after the link member (the target is only a string in its header).
            throw new UnsafeArchiveError(m.name, `is a hard link whose target '${escapedText(raw)}' ${e.message.replace(/^member '[^]*?' /, '')}`);
        }
        // tar links to the name as written: `a//b` or `a/` would be another string than the one checked.
        if (t !== raw)
            throw new UnsafeArchiveError(m.name, `is a hard link to '${escapedText(raw)}', which is not a normalised path`);
        if (t === p)
            throw new UnsafeArchiveError(m.name, 'is a hard link to itself');
        for (const a of ancestors(t))
            if (this.symlinks.has(a))
                throw new UnsafeArchiveError(m.name, `is a hard link to '${escapedText(t)}', through the symlink member '${escapedText(a)}'`);
        if (!this.files.has(t)) {
            const what = this.symlinks.has(t)
                ? 'a symlink member'
                : this.dirs.has(t)
                    ? 'a dir member'
                    : this.seen.has(t)
                        ? 'a member that is not a regular file written in full (a hard link itself)'
                        : this.rootOf(t) === undefined
                            ? 'a path outside the store paths'
                            : 'no earlier regular file of this archive';
            throw new UnsafeArchiveError(m.name, `is a hard link to '${escapedText(t)}', ${what}: only a link to a file written earlier in the same archive is accepted`);
        }
        return t;
    }
    finish() {
        this.summary.roots = this.roots.filter((r) => this.seenRoots.has(r));
        if (this.summary.members === 0)
            throw new UnsafeArchiveError('', 'archive has no members');
        return this.summary;
    }
}
/** Reads a whole uncompressed tar stream, validating every member; rejects on the first bad one. */
async function validateMembers(stream, rules) {
    const validator = new MemberValidator(rules);
    const parser = new TarParser((m) => void validator.check(m));
    for await (const chunk of stream)
        parser.write(chunk);
    parser.end();
    return validator.finish();
}

;// CONCATENATED MODULE: ./src/store/listing.ts
// One privileged walk of the store, sorted into what the member-by-member archives are made of:
// the store paths every archive holds as bare dirs, and the top-level items with their members.
// Dot-entries of a store dir (`.links`, the daemons' dedup dir; a restore's private dir) are left
// out, and so are top-level `<name>.lock` entries (the daemons' lock files, which restore never
// takes: members.ts isDaemonLockName). Files with several names (the daemons' dedup) are
// archived once per archive: in full at the first name tar meets, as a hard link at the others;
// the data sizes here count each file (device and inode) once per archive. Save lists the store once and plans from that.



const MTIME = /^[0-9]{1,12}(\.[0-9]{1,10})?$/;
/** Every entry under one store path; read as root (parts may be unreadable to the runner user). */
async function listEntries(root, storePath) {
    const base = storePath.replace(/^\/+/, '');
    // The live store, read on the trusted side: a big store lists far past run()'s default bound.
    const r = await run('find', [external_node_path_default().join(root, storePath), '-printf', '%D:%i\\t%n\\t%s\\t%y\\t%T@\\t%P\\0'], { privileged: true, maxStdout: 400 * 1024 * 1024 });
    const out = [];
    for (const rec of r.stdout.split('\0')) {
        if (rec === '')
            continue;
        const f = rec.split('\t');
        // A name with a tab, or one that is not valid UTF-8 (decoded lossily), cannot be listed
        // back to tar exactly: such a store is archived in one piece instead.
        if (f.length !== 6 || f[5].includes('\uFFFD'))
            return undefined;
        const [ino, nlink, size, type, mtime, p] = f;
        out.push({ ino, nlink: Number(nlink), size: Number(size), type, mtime, rel: p === '' ? base : `${base}/${p}`, top: p.split('/')[0] });
    }
    return out;
}
/**
 * Lists and sorts the store paths. Undefined when the layout cannot be split member by member:
 * a store path that is not a dir, or names tar could not be given back.
 */
async function listStore(root, storePaths, excluded) {
    const listing = { shared: [], items: new Map() };
    for (const sp of storePaths) {
        const entries = await listEntries(root, sp);
        if (!entries)
            return undefined;
        const spRel = sp.replace(/^\/+/, '');
        for (const e of entries) {
            if (excluded(`/${e.rel}`))
                continue;
            if (e.top === '') {
                if (e.type !== 'd')
                    return undefined;
                listing.shared.push(e.rel);
            }
            else if (!e.top.startsWith('.') && !isDaemonLockName(e.top)) {
                const key = `/${spRel}/${e.top}`;
                const item = listing.items.get(key) ?? { entries: [], bytes: 0, dataBytes: 0 };
                item.entries.push(e);
                // Per-member overhead: a 512-byte header and a file to create on restore.
                item.bytes += 512 + (e.type === 'f' ? e.size : 0);
                listing.items.set(key, item);
            }
        }
    }
    for (const item of listing.items.values())
        item.dataBytes = dataBytesOf(item.entries);
    return listing;
}
/**
 * The data an archive of these entries holds: each file once, however many names it has there
 * (tar writes the later names as hard links). `seen` carries the files counted so far.
 */
function dataBytesOf(entries, seen = new Set()) {
    let n = 0;
    for (const e of entries) {
        if (e.type !== 'f')
            continue;
        if (e.nlink > 1) {
            if (seen.has(e.ino))
                continue;
            seen.add(e.ino);
        }
        n += e.size;
    }
    return n;
}
/**
 * The link anchors of one archive made of `list` (in the order tar is given it): for each file
 * with several names in the list, the first one, which tar writes in full and the others link
 * to. Sorted. `byRel` names each listed entry.
 */
function linkTargetsOf(list, byRel) {
    const first = new Map();
    const targets = new Set();
    for (const rel of list) {
        const e = byRel.get(rel);
        if (!e || e.type !== 'f' || e.nlink < 2)
            continue;
        const f = first.get(e.ino);
        if (f === undefined)
            first.set(e.ino, rel);
        else
            targets.add(f);
    }
    return [...targets].sort(byteOrder);
}
/** Every item member of the listing by its relative path. */
function entriesByRel(listing) {
    const m = new Map();
    for (const item of listing.items.values())
        for (const e of item.entries)
            m.set(e.rel, e);
    return m;
}
const byteOrder = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));
/**
 * Tree order, as tar's own --sort=name walks: component by component, so a dir's members come
 * right after it. Plain byte order would put `loaders.cache` between `loaders` and
 * `loaders/x`, and tar sets a dir's mtime as soon as it meets a member outside that dir.
 */
function treeOrder(a, b) {
    const x = a.split('/');
    const y = b.split('/');
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const c = byteOrder(x[i], y[i]);
        if (c !== 0)
            return c;
    }
    return x.length - y.length;
}

;// CONCATENATED MODULE: ./src/store/shards.ts
// Sharded snapshots: the store's top-level items split into archives ("frames") that are
// created and extracted in parallel (one tar + zstd per core), all inside the one cache entry.
// By default (planFrames) a frame holds at most about FRAME_BYTES of items, newest registrations first,
// so that a partial restore (restore.ts selectFrames) onto a store that has most items fetches
// the few frames holding what it lacks: items a build added together were registered together
// and land in the same frames, and hash-named store items sorted by name would be scattered
// over all of them. `shards: N` keeps the older split into N frames balanced by bytes.
//
// Each shard lists its items' members in tree order (a dir before what is in it, which restore
// requires), after the store paths themselves as bare dirs. No member ever goes with more than
// one shard. Hard links never cross archives (each is its own tar): a file with names in two
// shards is archived whole in each, so items sharing files are kept together where that does
// not unbalance the shards (see planShards).


/** More archives than this buy nothing on today's runners and cost a process each. */
const MAX_SHARDS = 64;
const AUTO_MAX = 8;
/** Below this, a second tar costs more than it saves; `auto` keeps one archive. */
const AUTO_MIN_BYTES = 64 * 1024 * 1024;
/**
 * At most about this much item data per frame (BENCHMARKS.md, "Frames"): a partial restore
 * fetches at most about one frame beyond the items it lacks, and each frame costs a restore one
 * zstd and one ranged GET (the tar is per lane, not per frame). 32 MiB keeps a 400 MiB store at
 * about 10 frames, several per lane, and reaches MAX_FRAMES at about 3 GiB.
 */
const FRAME_BYTES = 32 * 2 ** 20;
/**
 * At most this many frames in a full snapshot: within the entry's MAX_FILES (256, with the
 * manifest and registrations) and, with a delta's few, within the manifest's MAX_ARCHIVES (128)
 * for a delta and its base together. A store bigger than MAX_FRAMES * FRAME_BYTES gets bigger frames.
 */
const MAX_FRAMES = 96;
/**
 * Each registered path's place in registration order (larger: newer), for planFrames: by
 * registrationTime, then by the DB's row id (`rowIds`; ids only grow), then by name. Times are
 * whole seconds, and a build registers its outputs (a bench store, its every item) many to the
 * second: by time and name alone, the newest items would be hash-ordered among their second's
 * and scattered over the frames of all the items registered that second.
 */
function registrationRank(paths, rowIds) {
    const id = (p) => rowIds?.get(p) ?? -1;
    const ordered = [...paths].sort((a, b) => a.registrationTime - b.registrationTime || id(a.path) - id(b.path) || byteOrder(a.path, b.path));
    return new Map(ordered.map((r, i) => [r.path, i]));
}
/**
 * Frames of at most about FRAME_BYTES each (at most MAX_FRAMES), items ordered by registration,
 * newest first (items with no registration last, by name), each frame filled in that order and
 * closed before the item that would take it past the size: an item bigger than a frame gets one
 * of its own. Items are never split. So the newest items a store lacks are in the first frames,
 * and a partial restore fetches their bytes and at most one frame's worth more. (Cutting the
 * order at multiples of total / n instead put a big item and the small ones after it in one
 * frame, and a partial restore onto the bench store fetched 59% of the data for a lack of 33%.)
 * `registeredAt` gives an item's (absolute path) registration time or rank (registrationRank):
 * larger is newer. When the store needs more than MAX_FRAMES of `frameBytes`, the frames grow.
 */
function planFrames(listing, registeredAt, frameBytes = FRAME_BYTES) {
    const { shared, items } = listing;
    const time = (i) => registeredAt(i) ?? -1;
    const ordered = [...items.keys()].sort((a, b) => time(b) - time(a) || byteOrder(a, b));
    // What an item adds to its frame's archive: its files once each (tar writes a file's later
    // names as links), and a header per member.
    const weight = ordered.map((i) => {
        const it = items.get(i);
        return it.dataBytes + 512 * it.entries.length;
    });
    const cut = (size) => {
        const frames = [];
        let cur = [];
        let load = 0;
        ordered.forEach((item, k) => {
            if (cur.length > 0 && load + weight[k] > size) {
                frames.push(cur);
                cur = [];
                load = 0;
            }
            cur.push(item);
            load += weight[k];
        });
        if (cur.length > 0 || frames.length === 0)
            frames.push(cur);
        return frames;
    };
    let frames = cut(frameBytes);
    if (frames.length > MAX_FRAMES) {
        // The smallest frame size that gives at most MAX_FRAMES (fewer frames as the size grows):
        // the whole store in one frame always fits.
        let lo = frameBytes;
        let hi = Math.max(frameBytes, weight.reduce((n, w) => n + w, 0));
        while (hi - lo > 1) {
            const mid = Math.floor((lo + hi) / 2);
            if (cut(mid).length > MAX_FRAMES)
                lo = mid;
            else
                hi = mid;
        }
        frames = cut(hi);
    }
    return framesOf(shared, items, frames);
}
/** Every item in one frame (`shards: 1`). */
function oneFrame(listing) {
    return framesOf(listing.shared, listing.items, [[...listing.items.keys()]]);
}
function framesOf(shared, items, frames) {
    const lists = frames.map((f) => [...shared, ...f.flatMap((i) => items.get(i).entries.map((e) => e.rel))].sort(treeOrder));
    const dataBytes = frames.map((f) => dataBytesOf(f.flatMap((i) => items.get(i).entries)));
    return { lists, dataBytes, items: frames.map((f) => [...f].sort(byteOrder)) };
}
/** `shards: auto`: one archive per core, at most AUTO_MAX. */
function autoShardCount() {
    return Math.max(1, Math.min(AUTO_MAX, external_node_os_default().availableParallelism()));
}
/**
 * Splits the listed items into `count` shards balanced by bytes (largest item first onto the
 * lightest shard). `auto`: undefined (one archive) for small stores.
 */
function planShards(listing, count, auto) {
    if (count <= 1)
        return undefined;
    const { shared, items } = listing;
    const total = [...items.values()].reduce((n, i) => n + i.bytes, 0);
    if (auto && total < AUTO_MIN_BYTES)
        return undefined;
    const n = Math.min(count, items.size);
    if (n <= 1)
        return undefined;
    const load = new Array(n).fill(0);
    const files = Array.from({ length: n }, () => new Set());
    const frames = Array.from({ length: n }, () => []);
    const ordered = [...items.entries()].sort((a, b) => b[1].bytes - a[1].bytes || byteOrder(a[0], b[0]));
    for (const [key, item] of ordered) {
        // What the item would add to each shard: files that shard already holds under another name
        // cost a header only. The lightest shard after adding wins, so an item goes where its
        // shared files are unless that makes the shard the heaviest.
        const cost = (s) => item.entries.reduce((c, e) => c + 512 + (e.type === 'f' && !(e.nlink > 1 && files[s].has(e.ino)) ? e.size : 0), 0);
        let best = 0;
        let bestLoad = Infinity;
        for (let s = 0; s < n; s++) {
            const l = load[s] + cost(s);
            if (l < bestLoad)
                [best, bestLoad] = [s, l];
        }
        load[best] = bestLoad;
        frames[best].push(key);
        for (const e of item.entries)
            if (e.type === 'f' && e.nlink > 1)
                files[best].add(e.ino);
    }
    return framesOf(shared, items, frames);
}

;// CONCATENATED MODULE: ./src/store/config.ts











const MAX_KEY_LENGTH = 512;
const MAX_KEYS = 10;
// systemd unit names; passed as one argv element, never through a shell.
const UNIT = /^[A-Za-z0-9@._:-]+$/;
function oneOf(src, name, allowed, fallback) {
    const v = src.value(name);
    if (v === '')
        return fallback;
    if (allowed.includes(v))
        return v;
    const named = allowed.filter((a) => a !== '');
    const valid = `${named.join(', ')}${allowed.includes('') ? ' or empty' : ''}`;
    // 'Guix' for 'guix' is the usual slip; say so rather than list what looks like the same value.
    if (allowed.includes(v.toLowerCase()))
        throw new InputError(name, `'${v}' is not one of ${valid}: the values are lower case`, `Write '${v.toLowerCase()}'`);
    throw new InputError(name, `'${v}' is not one of ${valid}`, `Write ${named.map((a) => `'${a}'`).join(' or ')}${allowed.includes('') ? `, or leave '${name}' out` : ''}`);
}
/** Why a key is unusable by the cache service (which would refuse it at save time), or undefined. */
function keyProblem(key) {
    if (key.length > MAX_KEY_LENGTH)
        return `it is ${key.length} characters long, more than the ${MAX_KEY_LENGTH} the cache service accepts`;
    if (key.includes(','))
        return 'it contains a comma, which the cache service does not accept';
    // Keys reach log lines and outputs; a manifest's base key is written by whoever wrote the entry.
    if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(key))
        return 'it contains a control character or a line break';
    return undefined;
}
function checkKey(input, key) {
    const problem = keyProblem(key);
    if (problem)
        throw new InputError(input, `'${key.length > 60 ? `${key.slice(0, 60)}...` : key}': ${problem}`, 'Shorten the key and leave out commas');
}
function parseStorePaths(src, preset) {
    const given = src.lines('store-paths');
    const fix = `Give absolute paths of dirs that hold only the store, one per line (the ${preset.kind} preset uses ${preset.storeDir} and ${preset.dbDir})`;
    const paths = (given.length > 0 ? given : [preset.storeDir, preset.dbDir]).map((p) => {
        const problem = pathProblem(p);
        if (problem)
            throw new InputError('store-paths', problem, fix);
        return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
    });
    for (const a of paths)
        for (const b of paths)
            if (a !== b && isUnder(b, a))
                throw new InputError('store-paths', `'${b}' lies inside '${a}'`, 'List each dir once; leave out the inner one');
    if (new Set(paths).size !== paths.length)
        throw new InputError('store-paths', 'a path is listed twice', 'List each dir once');
    return paths;
}
/** The fix of a store path that passes through a symlink (dirs-config's input check says the same). */
const STORE_PATHS_FIX = 'List the real store dirs';
/**
 * Where each store path really is, on disk: the symlinks on its way resolved, when root made
 * them all (a /nix moved to a bigger disk and linked back is the host's setup); any other link
 * is refused, naming store-paths, before anything is made or removed. Restore resolves once, up
 * front, then makes dirs, its private dir and renames at the real paths, never through a link;
 * archive members and DB rows keep the store paths as given.
 */
function realStorePaths(root, storePaths) {
    return new Map(storePaths.map((sp) => [sp, checkHostPathOnDisk('store-paths', external_node_path_default().join(root, sp), STORE_PATHS_FIX, { rootMadeParents: true }).real]));
}
/**
 * The real path of the kind's store dir (root's links resolved, as realStorePaths does): what the
 * host-wide restore lock is keyed on, so that two jobs reaching one store through different paths
 * (a root link, another RUNBOX_STORE_ROOT) still take the same lock.
 */
function realStoreDir(root, kind) {
    return checkHostPathOnDisk('store-paths', external_node_path_default().join(root, PRESETS[kind].storeDir), STORE_PATHS_FIX, { rootMadeParents: true }).real;
}
function parseTrustedKeys(src) {
    const keys = src.lines('trusted-keys').map((line) => {
        const k = parseTrustedKey(line);
        if (typeof k === 'string')
            throw new InputError('trusted-keys', k, "Give one public key per line as 'ed25519:<base64>', the line the save summary or `node tools/keygen.mjs` prints");
        return k;
    });
    return keys.filter((k, i) => keys.findIndex((o) => o.id === k.id) === i);
}
/**
 * `signing-key`, checked. Main calls this only to fail early on bad key material; post reads the
 * input again itself (see save.ts), because the key must never be written to the state file.
 */
function parseSigningKey(src) {
    const pem = src.value('signing-key');
    if (pem === '')
        return undefined;
    const k = parsePrivateKey(pem);
    if (typeof k === 'string')
        throw new InputError('signing-key', k, 'Give an ed25519 private key in PEM (PKCS#8), as `openssl genpkey -algorithm ed25519` or `node tools/keygen.mjs` print, from a secret');
    return k;
}
function parseShards(src) {
    const v = src.value('shards');
    if (v === '' || v === 'auto')
        return 0;
    const n = /^[0-9]+$/.test(v) ? Number(v) : NaN;
    if (!(n >= 1 && n <= MAX_SHARDS))
        throw new InputError('shards', `'${v}' is not 'auto' or a whole number from 1 to ${MAX_SHARDS}`, "Write 'auto' (one archive per core) or a number such as '4'; '1' makes one archive");
    return n;
}
/**
 * `restore-all-matches` and the `token` it lists the cache with: undefined when off. The token is
 * refused here when empty or unexpanded, like purge's; one the API refuses is a warning later
 * (then the first match is restored, as without this input).
 */
function parseRestoreAll(src, lookupOnly) {
    if (!parseBoolean(src, 'restore-all-matches', false))
        return undefined;
    if (lookupOnly)
        throw new InputError('restore-all-matches', "it is true while 'lookup-only' is true: a lookup restores nothing to merge", "Set one of them to 'false'");
    const token = src.value('token');
    if (token === '' || token.includes('${{'))
        throw new InputError('token', "it is empty while 'restore-all-matches' is true (the matching entries are listed through the REST API)", "Leave 'token' at its default (github.token) and give the job 'permissions: actions: read', or pass a token with that permission from a secret");
    core_setSecret(token);
    return { token };
}
/** `gc`: `off` (or empty) or a size cap such as `6G`, in the size syntax `disk-limit` uses. */
function parseGc(src) {
    const v = src.value('gc');
    if (v === '' || v === 'off')
        return 0;
    return parseSize('gc', v, "Write 'off', or the store's size cap with unit M, G or T (e.g. '6G', '500M'), in binary units as du -h prints them");
}
function parseDaemon(src, kind) {
    const unit = src.value('daemon');
    const stop = src.value('daemon-stop');
    const start = src.value('daemon-start');
    if (unit === 'none') {
        if (stop || start)
            throw new InputError(stop ? 'daemon-stop' : 'daemon-start', "it is set while 'daemon' is 'none'", "Leave it empty, or set 'daemon' to the unit name");
        return { kind: 'none' };
    }
    if (unit !== '' && !UNIT.test(unit))
        throw new InputError('daemon', `'${unit}' is not a systemd unit name`, "Write a unit name like 'guix-daemon', or 'none'");
    if (Boolean(stop) !== Boolean(start))
        throw new InputError(stop ? 'daemon-start' : 'daemon-stop', `it is empty while '${stop ? 'daemon-stop' : 'daemon-start'}' is set`, 'Give both daemon-stop and daemon-start, or neither');
    if (stop && start)
        return { kind: 'commands', stop, start };
    return { kind: 'systemd', unit: unit || PRESETS[kind].daemonUnit };
}
/** The validated store config, or undefined when `store` is empty (no snapshot wanted). */
function parseStoreConfig(src, env = process.env) {
    const kind = oneOf(src, 'store', ['guix', 'nix', ''], '');
    if (kind === '') {
        // A store path or key without a store kind is a half-written config, not "off".
        for (const name of ['store-paths', 'key', 'restore-keys', 'signing-key', 'trusted-keys'])
            if (src.value(name) !== '')
                throw new InputError(name, "it is set while 'store' is empty", "Set 'store' to 'guix' or 'nix', or remove it");
        if (parseGc(src) !== 0)
            throw new InputError('gc', "it is set while 'store' is empty", "Set 'store' to 'guix' or 'nix', or remove it");
        if (parseBoolean(src, 'restore-all-matches', false))
            throw new InputError('restore-all-matches', "it is true while 'store' is empty", "Set 'store' to 'guix' or 'nix', or remove it");
        return undefined;
    }
    const preset = PRESETS[kind];
    const storePaths = parseStorePaths(src, preset);
    const dbDir = storePaths.some((p) => p === preset.dbDir || isUnder(preset.dbDir, p)) ? preset.dbDir : undefined;
    const keyValue = src.value('key');
    if (keyValue !== '')
        checkKey('key', keyValue);
    const restoreLines = src.lines('restore-keys');
    for (const k of restoreLines)
        checkKey('restore-keys', k);
    // The default key plus its default restore key are 2; an explicit list counts with the key.
    if (1 + restoreLines.length > MAX_KEYS)
        throw new InputError('restore-keys', `${restoreLines.length} restore keys plus the key make ${1 + restoreLines.length} keys`, `The cache service looks up at most ${MAX_KEYS} keys in all; drop some restore keys`);
    const trustedKeys = parseTrustedKeys(src);
    parseSigningKey(src);
    const rootEnv = (env.RUNBOX_STORE_ROOT ?? '').trim();
    if (rootEnv !== '' && (!external_node_path_default().isAbsolute(rootEnv) || rootEnv.split('/').some((c) => c === '..')))
        throw new InputError('store', `RUNBOX_STORE_ROOT '${rootEnv}' is not an absolute normalised path`, 'Unset it (it exists for tests) or give an absolute path');
    const lookupOnly = parseBoolean(src, 'lookup-only', false);
    const restoreAll = parseRestoreAll(src, lookupOnly);
    return {
        kind,
        storePaths,
        ...(dbDir ? { dbDir } : {}),
        ...(keyValue !== '' ? { key: keyValue } : {}),
        ...(restoreLines.length > 0 ? { restoreKeys: restoreLines } : {}),
        keyFiles: src.lines('key-files'),
        daemon: parseDaemon(src, kind),
        save: oneOf(src, 'save', ['auto', 'always', 'never'], 'auto'),
        shards: parseShards(src),
        delta: oneOf(src, 'delta', ['auto', 'off'], 'auto'),
        failOnCacheMiss: parseBoolean(src, 'fail-on-cache-miss', false),
        lookupOnly,
        ...(restoreAll ? { restoreAllMatches: restoreAll } : {}),
        gcCapBytes: parseGc(src),
        trustedKeys,
        root: rootEnv === '' ? '/' : external_node_path_default().normalize(rootEnv),
        stagingBase: runnerTemp(env) ?? external_node_os_default().tmpdir(),
        workspace: (env.GITHUB_WORKSPACE ?? '').trim() || process.cwd(),
        workflowRef: (env.GITHUB_WORKFLOW_REF ?? '').trim()
    };
}

;// CONCATENATED MODULE: ./src/store/entry/reader.ts
// Reads a runbox entry v2 from a ranged byte source into a fresh staging dir. Order matters:
// trailer, then (with trusted keys) the signature, and only then is the index JSON parsed; the
// free space is checked before the files are fetched; every file is created with
// O_EXCL|O_NOFOLLOW under its checked name and hashed while it streams. Any mismatch removes the
// whole dir, so the layers above see either a complete snapshot dir or nothing.






async function readExact(src, offset, length) {
    const chunks = [];
    let n = 0;
    for await (const c of src.read(offset, length)) {
        n += c.length;
        if (n > length)
            throw new EntryFormatError(`the cache returned more than the ${length} bytes asked for at ${offset}`);
        chunks.push(Buffer.from(c));
    }
    if (n !== length)
        throw new EntryFormatError(`the cache returned ${n} of the ${length} bytes asked for at ${offset}`);
    return Buffer.concat(chunks, n);
}
/** Free bytes for an unprivileged writer on the filesystem holding `dir`. */
function freeBytes(dir) {
    const s = external_node_fs_default().statfsSync(dir);
    return s.bavail * s.bsize;
}
/**
 * Fetches and checks the entry's trailer, signature and index: what a caller needs before any
 * file is written. Exposed so a later partial restore can fetch single files by their range.
 */
async function readIndex(src, trustedKeys) {
    if (!Number.isSafeInteger(src.size) || src.size < TRAILER_BYTES)
        throw new EntryFormatError(`the blob is ${src.size} bytes, too small for a runbox entry`);
    if (src.size > format_MAX_ENTRY_BYTES)
        throw new EntryFormatError(`the blob is ${src.size} bytes, more than the ${format_MAX_ENTRY_BYTES} a runbox entry may be`);
    const trailer = decodeTrailer(await readExact(src, src.size - TRAILER_BYTES, TRAILER_BYTES), src.size);
    const dataBytes = src.size - TRAILER_BYTES - trailer.signatureLength - trailer.indexLength;
    const meta = await readExact(src, dataBytes, trailer.indexLength + trailer.signatureLength);
    const index = meta.subarray(0, trailer.indexLength);
    const signature = meta.subarray(trailer.indexLength);
    let signer;
    let verified = false;
    if (trustedKeys.length > 0) {
        signer = checkSignature(signature, index, trustedKeys);
        verified = true;
    }
    else if (signature.length > 0)
        signer = keyIdOf(signature.subarray(0, 32));
    return { files: parseIndex(index, dataBytes), dataBytes, ...(signer ? { signer } : {}), verified };
}
const O_NEW = (external_node_fs_default()).constants.O_WRONLY | (external_node_fs_default()).constants.O_CREAT | (external_node_fs_default()).constants.O_EXCL | (external_node_fs_default()).constants.O_NOFOLLOW;
/** Spare ByteQueue buffers: a chunk and what the cache client yields at once (1 MiB) beyond it. */
const queuePool = new BufferPool(CHUNK_BYTES + 2 ** 20, 8);
/**
 * Exact-size runs of a byte stream, whatever sizes it arrives in, copied into one buffer of its
 * own (the source's buffers are valid only until its next read; see RangeSource) that is used
 * again for the next run. Call close() once done: the buffer goes back to the pool.
 */
class ByteQueue {
    it;
    buf = queuePool.take();
    /** Bytes held from `start`: what the last take() did not hand on. */
    start = 0;
    held = 0;
    constructor(it) {
        this.it = it;
    }
    /**
     * The next `n` bytes (n at most CHUNK_BYTES), valid until the next take(), ended() or close(),
     * or undefined when the stream ends first (`got` says how many there were).
     */
    async take(n) {
        // The last run is handed back by now: what is left after it moves to the front.
        if (this.start > 0) {
            this.buf.copy(this.buf, 0, this.start, this.start + this.held);
            this.start = 0;
        }
        while (this.held < n) {
            const r = await this.it.next();
            if (r.done)
                return { got: this.held };
            this.put(r.value);
        }
        const parts = [this.buf.subarray(0, n)];
        this.start = n;
        this.held -= n;
        return { parts, got: n };
    }
    put(b) {
        if (this.held + b.length > this.buf.length) {
            // A source yielding more at once than the pool's buffers hold (a local file's stream):
            // a buffer of this queue's own, not the pool's.
            const bigger = Buffer.allocUnsafe(this.held + b.length);
            this.buf.copy(bigger, 0, 0, this.held);
            queuePool.give(this.buf);
            this.buf = bigger;
        }
        b.copy(this.buf, this.held);
        this.held += b.length;
    }
    async ended() {
        return this.held === 0 && (await this.it.next()).done === true;
    }
    close() {
        queuePool.give(this.buf);
    }
}
/**
 * The file's bytes from `q`, one CHUNK_BYTES piece at a time, each handed on only once its
 * sha256 matches the index (and the whole file's once the last one did): nothing unproven
 * leaves here. Each piece is valid until the next is asked for (the queue's buffer).
 */
async function* provenChunks(q, f) {
    const whole = (0,external_node_crypto_.createHash)('sha256');
    for (const [i, want] of f.chunks.entries()) {
        const size = Math.min(CHUNK_BYTES, f.length - i * CHUNK_BYTES);
        const { parts, got } = await q.take(size);
        if (!parts)
            throw new format_EntryIntegrityError(`${f.name} is ${i * CHUNK_BYTES + got} bytes, the index says ${f.length}: the entry ended early`);
        const h = (0,external_node_crypto_.createHash)('sha256');
        for (const p of parts)
            h.update(p);
        const digest = h.digest('hex');
        if (digest !== want)
            throw new format_EntryIntegrityError(`${f.name}: chunk ${i} (bytes ${i * CHUNK_BYTES}-${i * CHUNK_BYTES + size - 1}) has sha256 ${digest}, the index says ${want}; none of it was used`);
        for (const p of parts)
            whole.update(p);
        if (i === f.chunks.length - 1) {
            const got = whole.digest('hex');
            if (got !== f.sha256)
                throw new format_EntryIntegrityError(`${f.name} has sha256 ${got}, the index says ${f.sha256}`);
        }
        yield* parts;
    }
    if (f.chunks.length === 0 && f.sha256 !== EMPTY_SHA256)
        throw new format_EntryIntegrityError(`${f.name} is empty, but the index gives it the sha256 ${f.sha256}`);
}
const EMPTY_SHA256 = (0,external_node_crypto_.createHash)('sha256').digest('hex');
/**
 * One file of the entry as proven pieces, fetched by one ranged read when iterated (again on
 * every call): what a restore streams into zstd without a copy on disk. Each piece is valid only
 * until the next is asked for: a consumer that keeps bytes longer copies them. The download
 * stops as soon as a piece fails its digest or the consumer stops reading.
 */
async function* fileChunks(src, f) {
    const it = src.read(f.offset, f.length)[Symbol.asyncIterator]();
    const q = new ByteQueue(it);
    try {
        yield* provenChunks(q, f);
        if (!(await q.ended()))
            throw new format_EntryIntegrityError(`the cache returned more than the ${f.length} bytes of ${f.name}`);
    }
    finally {
        await it.return?.();
        q.close();
    }
}
/** Writes one file of the entry, proven piece by piece, as `dest` (created O_EXCL|O_NOFOLLOW). */
async function fetchFile(src, f, dest) {
    const fd = external_node_fs_default().openSync(dest, O_NEW, 0o600);
    try {
        for await (const b of fileChunks(src, f)) {
            let off = 0;
            while (off < b.length)
                off += external_node_fs_default().writeSync(fd, b, off, b.length - off);
        }
    }
    finally {
        external_node_fs_default().closeSync(fd);
    }
}
async function writeFiles(src, files, dataBytes, dest) {
    if (files.some((f) => f.name.startsWith('db/')))
        fs.mkdirSync(path.join(dest, 'db'), { mode: 0o700 });
    // One ranged read over all the files (they are contiguous from 0), split as it streams.
    const it = src.read(0, dataBytes)[Symbol.asyncIterator]();
    const q = new ByteQueue(it);
    try {
        for (const f of files) {
            const fd = fs.openSync(path.join(dest, f.name), O_NEW, 0o600);
            try {
                for await (const b of provenChunks(q, f)) {
                    let off = 0;
                    while (off < b.length)
                        off += fs.writeSync(fd, b, off, b.length - off);
                }
            }
            finally {
                fs.closeSync(fd);
            }
        }
        if (!(await q.ended()))
            throw new EntryIntegrityError('the cache returned more bytes than the files listed in the index');
    }
    finally {
        // Stopping early (a mismatch) must end the download too, not leave a connection open.
        await it.return?.();
        q.close();
    }
}
/**
 * Reads the entry into `dest` (which must not exist; its parent is a fresh runner-owned staging
 * dir). On any error nothing of `dest` is left.
 */
async function readEntry(src, dest, opts) {
    const { files, dataBytes, signer, verified } = await readIndex(src, opts.trustedKeys);
    const parent = path.dirname(dest);
    const free = freeBytes(parent);
    const needed = dataBytes + (opts.reserveBytes ?? 0);
    if (free < needed)
        throw new Error(`not enough free space in ${parent} for the snapshot: ${needed} bytes needed (${dataBytes} of files${opts.reserveBytes ? ` + ${opts.reserveBytes} kept free` : ''}), ${free} bytes free`);
    // Outside the try: an existing dest is an error, never something this function removes.
    fs.mkdirSync(dest, { mode: 0o700 });
    try {
        await writeFiles(src, files, dataBytes, dest);
    }
    catch (e) {
        fs.rmSync(dest, { recursive: true, force: true });
        throw e;
    }
    return { files, ...(signer ? { signer } : {}), verified };
}

;// CONCATENATED MODULE: ./src/store/pipeline.ts
// Streaming pipelines (`zstd -dc FILE | sudo tar -x`, `sudo tar -c | zstd`) for snapshots of many
// GB, which exec.run() cannot do because it buffers output. The stages start through
// exec.startStages(), so whether root rights come from being root or from `sudo -n` is still
// decided in exec.ts alone. Adjacent stages are joined by an OS pipe (no copy through node);
// node only feeds the first stage and/or consumes the last one.








/**
 * A connected pair of unix stream sockets (sys/launch.ts unixSocketPair): `theirs` to give the
 * last stage as its stdout, `ours` read into `r.buffer` (net.Socket's onread; node makes a
 * child's own stdout pipe without it).
 */
async function reusedReadsPair(r) {
    let fail = () => undefined;
    let ended = () => undefined;
    let pending = Promise.resolve();
    // Set once the pair is made; no chunk can come before.
    let ours = undefined;
    const pair = await unixSocketPair(r.socketDir ?? external_node_os_default().tmpdir(), {
        buffer: r.buffer,
        callback: (n) => {
            // Paused until the chunk is handled: the next read overwrites the buffer.
            pending = r.onChunk(r.buffer.subarray(0, n)).then(() => void ours?.resume(), (e) => fail(e));
            return false;
        }
    });
    ours = pair.ours;
    const mine = ours;
    const done = new Promise((resolve, reject) => {
        fail = (e) => {
            mine.destroy();
            reject(e instanceof Error ? e : new Error(errorMessage(e)));
        };
        ended = () => void pending.then(() => r.onEnd()).then(resolve, fail);
    });
    // Awaited by runPipeline once the pair is made; a pair never made rejects it unawaited.
    done.catch(() => undefined);
    let atEnd = false;
    mine.once('end', () => {
        atEnd = true;
        ended();
    });
    mine.once('error', (e) => fail(e));
    // Closed before its end (the pipeline cut short): told like a broken pipe, a consequence.
    mine.once('close', () => atEnd || fail(Object.assign(new Error('the output was closed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })));
    return { ours: mine, theirs: pair.theirs, done };
}
class PipelineError extends Error {
    command;
    constructor(command, message) {
        super(message);
        this.command = command;
        this.name = 'PipelineError';
    }
}
const STDERR_TAIL = 16 * 1024;
function isBrokenPipe(e) {
    const code = e?.code;
    return code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ERR_STREAM_DESTROYED';
}
function waitForStage(child) {
    return new Promise((resolve) => {
        let stderr = '';
        child.stderr?.on('data', (b) => {
            stderr = (stderr + b.toString()).slice(-STDERR_TAIL);
        });
        // 'error' (e.g. ENOENT) may come without 'close'; whichever is first settles.
        child.once('error', (error) => resolve({ code: null, signal: null, error, stderr }));
        child.once('close', (code, signal) => resolve({ code, signal, stderr }));
    });
}
/**
 * Runs stages[0] | stages[1] | ... and resolves when every stage exited 0 and feed/consume
 * finished. On the first failure every stage still running is killed, and the error names the
 * stage that failed first in cause (a `tar` error, not the SIGPIPE it caused upstream).
 */
async function pipeline_runPipeline(stages, io = {}) {
    if (stages.length === 0)
        throw new Error('runPipeline: no stages');
    const children = [];
    // Without the pair (no socket can be made: a TMPDIR whose path is too long for one, say), the
    // child's own stdout pipe, its fresh buffers handed on as they come (valid for good).
    const pair = io.consumeInto
        ? await reusedReadsPair(io.consumeInto).catch((e) => void core_debug(`pipeline: reading into one buffer: ${errorMessage(e)}; reading the pipe instead`))
        : undefined;
    const into = io.consumeInto;
    const consume = io.consume ??
        (into && !pair
            ? async (stdout) => {
                for await (const chunk of stdout)
                    await into.onChunk(chunk);
                await into.onEnd();
            }
            : undefined);
    // Read with the pair: its reading end is closed with the children on a failure.
    const ours = pair?.ours;
    let aborted = false;
    const abort = () => {
        if (aborted)
            return;
        aborted = true;
        for (const c of children)
            if (c.exitCode === null && c.signalCode === null)
                c.kill('SIGTERM');
        for (const c of children) {
            c.stdin?.destroy();
            c.stdout?.destroy();
        }
        ours?.destroy();
    };
    const stdout = pair ? pair.theirs : consume ? 'pipe' : 'ignore';
    // The pair's end the last stage writes is the child's alone once started: once it exits,
    // ours reads the end.
    const started = await startStages(stages, io.feed ? 'pipe' : 'ignore', stdout).catch((e) => {
        pair?.theirs.destroy();
        ours?.destroy();
        throw e;
    });
    const shown = started.shown;
    children.push(...started.children);
    const ends = children.map((child) => waitForStage(child).then((end) => {
        if (end.error || end.code !== 0)
            abort();
        return end;
    }));
    core_debug(`exec: ${shown.join(' | ')}`);
    const unregister = registerCleanup(async () => {
        abort();
        await Promise.allSettled(ends);
    });
    const guard = (p) => (p ?? Promise.resolve()).catch((e) => {
        abort();
        throw e;
    });
    const fed = guard(io.feed?.(children[0].stdin));
    const consumed = guard(pair ? pair.done : consume?.(children[children.length - 1].stdout));
    try {
        const [stageEnds, [feed], [consume]] = await Promise.all([Promise.all(ends), Promise.allSettled([fed]), Promise.allSettled([consumed])]);
        const cause = pipelineFailure(shown, stageEnds, feed, consume);
        if (cause.failed)
            throw cause.error;
    }
    finally {
        unregister();
    }
}
/**
 * How a finished pipeline ended: the failure first in cause, not the broken pipes and kills it
 * led to upstream. `commands`: each stage's command line, quoted. Exported for its unit test.
 */
function pipelineFailure(commands, stageEnds, feed, consume) {
    const fail = (error) => ({ failed: true, error });
    // The consumer refusing the data is the root cause of everything that follows.
    if (consume.status === 'rejected' && !isBrokenPipe(consume.reason))
        return fail(consume.reason);
    const failed = stageEnds
        .map((end, i) => ({ end, i }))
        .filter(({ end }) => end.error || end.code !== 0)
        // A stage killed by SIGPIPE or by our abort is a consequence, not the cause.
        .sort((a, b) => rank(a.end) - rank(b.end) || b.i - a.i);
    if (failed.length > 0 && rank(failed[0].end) === 0)
        return fail(stageError(commands[failed[0].i], failed[0].end));
    if (feed.status === 'rejected' && !isBrokenPipe(feed.reason))
        return fail(feed.reason);
    if (failed.length > 0)
        return fail(stageError(commands[failed[0].i], failed[0].end));
    if (consume.status === 'rejected')
        return fail(consume.reason);
    if (feed.status === 'rejected')
        return fail(feed.reason);
    return { failed: false };
}
function rank(end) {
    return end.error || end.code !== null ? 0 : 1;
}
function stageError(cmd, end) {
    const detail = end.stderr.trim().split('\n').slice(-5).join('\n');
    const how = end.error ? `could not run: ${errorMessage(end.error)}` : end.code !== null ? `exited with ${end.code}` : `was killed by ${end.signal ?? 'a signal'}`;
    return new PipelineError(cmd, `\`${cmd}\` ${how}${detail ? `: ${detail}` : ''}`);
}
/**
 * ReusedReads as an async iterable, for a consumer that pulls (for await): each chunk is handed
 * over when asked for and counts as done with once the next is asked for (or the consumer stops),
 * which is when onChunk resolves and the buffer is read into again. So the consumer must not keep
 * a chunk past asking for the next (copy it). `fail` ends the iteration with an error (the
 * pipeline broke); a consumer that stops early makes every later onChunk reject.
 */
class HandOff {
    /** Offered by the reader, not yet handed over. */
    offered;
    /** Handed over: the consumer may read it until it asks for the next. */
    handed;
    asking;
    ended = false;
    failure;
    stopped = false;
    /** ReusedReads.onChunk: resolves once the consumer asks for the chunk after this one. */
    onChunk = (chunk) => new Promise((done, refuse) => {
        if (this.stopped)
            return refuse(new Error('the consumer stopped reading'));
        this.offered = { chunk, done, refuse };
        this.serve();
    });
    /** No more chunks (after the last one's onChunk resolved). */
    end() {
        this.ended = true;
        this.serve();
    }
    fail(e) {
        this.failure ??= e;
        this.serve();
    }
    /** The consumer will not read (it failed before it began): the reader stops as if it had stopped. */
    stop() {
        void this[Symbol.asyncIterator]().return?.();
    }
    serve() {
        const ask = this.asking;
        if (!ask)
            return;
        if (this.offered) {
            this.asking = undefined;
            this.handed = this.offered;
            this.offered = undefined;
            ask.resolve({ value: this.handed.chunk, done: false });
        }
        else if (this.failure) {
            this.asking = undefined;
            ask.reject(this.failure);
        }
        else if (this.ended) {
            this.asking = undefined;
            ask.resolve({ value: undefined, done: true });
        }
    }
    [Symbol.asyncIterator]() {
        return {
            next: () => {
                // Asking for the next: the consumer is done with the one handed over before.
                const prev = this.handed;
                this.handed = undefined;
                prev?.done();
                return new Promise((resolve, reject) => {
                    this.asking = { resolve, reject };
                    this.serve();
                });
            },
            return: () => {
                this.stopped = true;
                for (const o of [this.handed, this.offered])
                    o?.refuse(new Error('the consumer stopped reading'));
                this.handed = this.offered = undefined;
                return Promise.resolve({ value: undefined, done: true });
            }
        };
    }
}
/** Passes bytes through while counting them and computing their sha256. */
class HashTap extends external_node_stream_.Transform {
    hash = external_node_crypto_default().createHash('sha256');
    bytes = 0;
    _transform(chunk, _enc, cb) {
        this.hash.update(chunk);
        this.bytes += chunk.length;
        cb(null, chunk);
    }
    /** Call once, after the stream has ended. */
    digest() {
        return this.hash.digest('hex');
    }
}

;// CONCATENATED MODULE: ./src/store/registrations.ts
// Store registrations as data. Save reads them from the live DB on the trusted side (read-only)
// and writes them into the snapshot as one JSON file; restore parses that file strictly, since
// it comes from a cache entry: every value is checked against the shapes the daemons write, so
// the SQL that db.ts builds from them can only ever insert well-formed rows. No SQLite file from
// a snapshot is ever opened.




const REGISTRATIONS_FILE = 'registrations.json.zst';
const REGISTRATIONS_FORMAT = 'runbox-registrations';
const REGISTRATIONS_VERSION = 1;
/**
 * Bounds on what restore reads. A real store is far below them (a big Nix store has some 10^5
 * paths with a few hundred bytes of registration each); they exist so that a hostile file is a
 * refusal, not an out-of-memory crash of main while the daemon is stopped.
 */
const LIMITS = {
    /** Compressed file, as the manifest records it. */
    fileBytes: 64 * 1024 * 1024,
    /** Decompressed JSON. */
    jsonBytes: 128 * 1024 * 1024,
    paths: 200_000,
    refsPerPath: 20_000,
    refsTotal: 4_000_000,
    outputsPerDrv: 256,
    sigsChars: 8192
};
class RegistrationsError extends Error {
    constructor(message) {
        super(`snapshot registrations: ${message}`);
        this.name = 'RegistrationsError';
    }
}
const registrations_NAME = /^[A-Za-z0-9+_?=-][A-Za-z0-9+._?=-]{0,210}$/;
const HASH_PART = /^[0-9a-df-np-sv-z]{32}$/;
const OUTPUT_ID = /^[A-Za-z0-9+._?=-]{1,211}$/;
const SIGS = /^[A-Za-z0-9+/=:._-]+( [A-Za-z0-9+/=:._-]+)*$/;
const CA = /^(text:sha256|fixed:(?:r:)?(md5|sha1|sha256|sha512)):([0-9a-df-np-sv-z]+)$/;
const NIX32 = '0123456789abcdfghijklmnpqrsvwxyz';
const DIGEST_BYTES = { md5: 16, sha1: 20, sha256: 32, sha512: 64 };
/**
 * A nix-base32 digest of `bytes` bytes as the daemons parse it: exactly the length of that
 * digest, and the bits beyond it (the top of the first character) zero. Nix refuses any other
 * string ("invalid base-32 hash", "wrong length") when it reads the row, and a row it cannot
 * read stops `nix-store --gc` for the whole store.
 */
function isNix32(s, bytes) {
    const len = Math.ceil((bytes * 8) / 5);
    if (s.length !== len || ![...s].every((c) => NIX32.includes(c)))
        return false;
    return NIX32.indexOf(s[0]) < 2 ** (5 - (len * 5 - bytes * 8));
}
function isNarHash(h) {
    if (typeof h !== 'string' || !h.startsWith('sha256:'))
        return false;
    const d = h.slice('sha256:'.length);
    return /^[0-9a-f]{64}$/.test(d) || isNix32(d, 32);
}
function isContentAddress(ca) {
    const m = CA.exec(ca);
    return m !== null && isNix32(m[3], DIGEST_BYTES[m[2] ?? 'sha256']);
}
/** Seconds since the epoch; 2^40 is far in the future and keeps SQLite integers exact. */
const MAX_TIME = 2 ** 40;
/**
 * A store path: `<storeDir>/<32 chars of nix-base32>-<name>`. The name's first character may
 * not be a dot (no `.links`, no `..`), as Nix itself refuses.
 */
function isStorePath(p, storeDir) {
    if (typeof p !== 'string' || !p.startsWith(`${storeDir}/`))
        return false;
    const base = p.slice(storeDir.length + 1);
    return base.length > 33 && HASH_PART.test(base.slice(0, 32)) && base[32] === '-' && registrations_NAME.test(base.slice(33));
}
function isObject(v) {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function registrations_shown(v) {
    const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
    // Values come from a cache entry: never log them raw (a line starting `::` is a runner command).
    return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}...` : s);
}
const KEYS = new Set(['path', 'hash', 'registrationTime', 'narSize', 'deriver', 'ultimate', 'sigs', 'ca', 'references', 'outputs']);
/** One record, checked; throws naming the record and field. */
function checkRegistration(v, storeDir, what) {
    if (!isObject(v))
        throw new RegistrationsError(`${what} is not an object`);
    for (const k of Object.keys(v))
        if (!KEYS.has(k))
            throw new RegistrationsError(`${what} has an unknown field ${registrations_shown(k)}`);
    const { path: p, hash, registrationTime, narSize, deriver, ultimate, sigs, ca, references, outputs } = v;
    if (!isStorePath(p, storeDir))
        throw new RegistrationsError(`${what}.path ${registrations_shown(p)} is not a store path in ${storeDir}`);
    if (!isNarHash(hash))
        throw new RegistrationsError(`${what}.hash ${registrations_shown(hash)} is not a sha256 hash`);
    if (typeof registrationTime !== 'number' || !Number.isSafeInteger(registrationTime) || registrationTime < 0 || registrationTime >= MAX_TIME)
        throw new RegistrationsError(`${what}.registrationTime ${registrations_shown(registrationTime)} is not a time`);
    if (narSize !== null && (typeof narSize !== 'number' || !Number.isSafeInteger(narSize) || narSize < 0))
        throw new RegistrationsError(`${what}.narSize ${registrations_shown(narSize)} is not a size`);
    if (deriver !== null && !(isStorePath(deriver, storeDir) && deriver.endsWith('.drv')))
        throw new RegistrationsError(`${what}.deriver ${registrations_shown(deriver)} is not a .drv store path`);
    if (ultimate !== undefined && typeof ultimate !== 'boolean')
        throw new RegistrationsError(`${what}.ultimate is not a boolean`);
    if (sigs !== undefined && (typeof sigs !== 'string' || sigs.length > LIMITS.sigsChars || !SIGS.test(sigs)))
        throw new RegistrationsError(`${what}.sigs ${registrations_shown(sigs)} are not signatures`);
    if (ca !== undefined && (typeof ca !== 'string' || !isContentAddress(ca)))
        throw new RegistrationsError(`${what}.ca ${registrations_shown(ca)} is not a content address`);
    if (!Array.isArray(references) || references.length > LIMITS.refsPerPath)
        throw new RegistrationsError(`${what}.references is not a list of at most ${LIMITS.refsPerPath}`);
    for (const r of references)
        if (!isStorePath(r, storeDir))
            throw new RegistrationsError(`${what}.references has ${registrations_shown(r)}, not a store path in ${storeDir}`);
    if (new Set(references).size !== references.length)
        throw new RegistrationsError(`${what}.references lists a path twice`);
    if (!Array.isArray(outputs) || outputs.length > LIMITS.outputsPerDrv)
        throw new RegistrationsError(`${what}.outputs is not a list of at most ${LIMITS.outputsPerDrv}`);
    if (outputs.length > 0 && !p.endsWith('.drv'))
        throw new RegistrationsError(`${what} has outputs but is not a .drv`);
    const ids = new Set();
    const outs = outputs.map((o, i) => {
        if (!isObject(o) || Object.keys(o).some((k) => k !== 'id' && k !== 'path'))
            throw new RegistrationsError(`${what}.outputs[${i}] is not {id, path}`);
        if (typeof o.id !== 'string' || !OUTPUT_ID.test(o.id) || ids.has(o.id))
            throw new RegistrationsError(`${what}.outputs[${i}].id ${registrations_shown(o.id)} is not an output id (or a repeated one)`);
        if (!isStorePath(o.path, storeDir))
            throw new RegistrationsError(`${what}.outputs[${i}].path ${registrations_shown(o.path)} is not a store path in ${storeDir}`);
        ids.add(o.id);
        return { id: o.id, path: o.path };
    });
    return {
        path: p,
        hash,
        registrationTime,
        narSize,
        deriver,
        ...(ultimate !== undefined ? { ultimate } : {}),
        ...(sigs !== undefined ? { sigs } : {}),
        ...(ca !== undefined ? { ca } : {}),
        references: references,
        outputs: outs
    };
}
/** Parses a registrations document (already bounded in size) for the configured store dir. */
function parseRegistrations(text, storeDir) {
    if (text.length > LIMITS.jsonBytes)
        throw new RegistrationsError(`the file is over ${LIMITS.jsonBytes} bytes`);
    let raw;
    try {
        raw = JSON.parse(text);
    }
    catch (e) {
        throw new RegistrationsError(`not JSON: ${e.message.slice(0, 200)}`);
    }
    if (!isObject(raw) || raw.format !== REGISTRATIONS_FORMAT || raw.version !== REGISTRATIONS_VERSION)
        throw new RegistrationsError(`not a version ${REGISTRATIONS_VERSION} registrations file`);
    for (const k of Object.keys(raw))
        if (!['format', 'version', 'storeDir', 'paths'].includes(k))
            throw new RegistrationsError(`unknown field ${registrations_shown(k)}`);
    if (raw.storeDir !== storeDir)
        throw new RegistrationsError(`it is for the store dir ${registrations_shown(raw.storeDir)}, this step restores ${storeDir}`);
    if (!Array.isArray(raw.paths))
        throw new RegistrationsError('paths is not a list');
    if (raw.paths.length > LIMITS.paths)
        throw new RegistrationsError(`${raw.paths.length} paths, more than the ${LIMITS.paths} allowed`);
    let refs = 0;
    const seen = new Set();
    const paths = raw.paths.map((v, i) => {
        const r = checkRegistration(v, storeDir, `paths[${i}]`);
        if (seen.has(r.path))
            throw new RegistrationsError(`paths[${i}] registers ${registrations_shown(r.path)} twice`);
        seen.add(r.path);
        refs += r.references.length;
        if (refs > LIMITS.refsTotal)
            throw new RegistrationsError(`more than ${LIMITS.refsTotal} references in all`);
        return r;
    });
    return { storeDir, paths };
}
function serializeRegistrations(set) {
    return JSON.stringify({ format: REGISTRATIONS_FORMAT, version: REGISTRATIONS_VERSION, storeDir: set.storeDir, paths: set.paths });
}
/** Decompresses a verified registrations file, refusing it past LIMITS.jsonBytes, and parses it. */
async function readRegistrationsFile(file, storeDir) {
    const size = external_node_fs_default().statSync(file).size;
    if (size > LIMITS.fileBytes)
        throw new RegistrationsError(`the file is ${size} bytes, over the ${LIMITS.fileBytes} allowed`);
    const chunks = [];
    let bytes = 0;
    const consume = async (out) => {
        for await (const chunk of out) {
            bytes += chunk.length;
            // Stop reading (runPipeline kills zstd) before a hostile stream fills memory.
            if (bytes > LIMITS.jsonBytes)
                throw new RegistrationsError(`the file decompresses to more than ${LIMITS.jsonBytes} bytes`);
            chunks.push(chunk);
        }
    };
    await pipeline_runPipeline([{ cmd: 'zstd', args: ['-d', '-q', '-c', '--', file] }], { consume });
    const buf = Buffer.concat(chunks);
    const text = buf.toString('utf8');
    if (!Buffer.from(text, 'utf8').equals(buf))
        throw new RegistrationsError('the file is not valid UTF-8');
    return parseRegistrations(text, storeDir);
}
/** sqlite3 -json output of a read-only query on the live DB, streamed to a scratch file (it may be large). */
async function queryLive(db, sql, scratch) {
    const out = external_node_fs_default().openSync(scratch, 'wx', 0o600);
    try {
        await pipeline_runPipeline([{ cmd: 'sqlite3', args: ['-safe', '-bail', '-readonly', '-json', '-cmd', '.timeout 60000', db, sql], privileged: true }], {
            consume: async (stdout) => {
                for await (const chunk of stdout)
                    external_node_fs_default().writeSync(out, chunk);
            }
        });
    }
    finally {
        external_node_fs_default().closeSync(out);
    }
    try {
        const text = external_node_fs_default().readFileSync(scratch, 'utf8').trim();
        return text === '' ? [] : JSON.parse(text);
    }
    finally {
        external_node_fs_default().rmSync(scratch, { force: true });
    }
}
function sqlString(s) {
    return `'${s.replace(/'/g, "''")}'`;
}
/**
 * The registrations of every valid path directly in `storeDir`, read from the live DB (root's,
 * read-only, in one read transaction per query while the daemon may run). Rows that restore
 * would refuse are left out with a warning, so a snapshot only carries what a restore accepts.
 * `keep` narrows the set (a delta records only the items its base lacks).
 */
async function readLiveRegistrations(liveDb, storeDir, scratchDir, keep) {
    const scratch = (n) => external_node_path_default().join(scratchDir, `registrations-${n}.json`);
    // The queries of each round side by side: a sqlite3 start is most of what each costs (a save
    // waits for these before its first tar), and every query is its own read transaction anyway.
    const [colRows, tableRows] = await Promise.all([
        queryLive(liveDb, "SELECT name FROM pragma_table_info('ValidPaths')", scratch('cols')),
        queryLive(liveDb, "SELECT name FROM sqlite_master WHERE type = 'table'", scratch('tables'))
    ]);
    const cols = new Set(colRows.map((c) => c.name));
    const tables = new Set(tableRows.map((t) => t.name));
    for (const t of ['ValidPaths', 'Refs'])
        if (!tables.has(t))
            throw new Error(`the live DB ${liveDb} has no ${t} table`);
    const extra = ['ultimate', 'sigs', 'ca'].filter((c) => cols.has(c));
    const inStore = (col) => `substr(${col}, 1, ${storeDir.length + 1}) = ${sqlString(`${storeDir}/`)}`;
    const [rows, refs, outs] = await Promise.all([
        queryLive(liveDb, `SELECT id, path, hash, registrationTime, narSize, deriver${extra.map((c) => `, ${c}`).join('')} FROM ValidPaths WHERE ${inStore('path')} ORDER BY path`, scratch('paths')),
        queryLive(liveDb, `SELECT x.path AS a, y.path AS b FROM Refs r JOIN ValidPaths x ON x.id = r.referrer JOIN ValidPaths y ON y.id = r.reference WHERE ${inStore('x.path')} ORDER BY 1, 2`, scratch('refs')),
        tables.has('DerivationOutputs')
            ? queryLive(liveDb, `SELECT v.path AS drv, d.id AS id, d.path AS path FROM DerivationOutputs d JOIN ValidPaths v ON v.id = d.drv WHERE ${inStore('v.path')} ORDER BY 1, 2`, scratch('outputs'))
            : []
    ]);
    const refsOf = new Map();
    for (const r of refs)
        refsOf.set(r.a, [...(refsOf.get(r.a) ?? []), r.b]);
    const outsOf = new Map();
    for (const o of outs)
        outsOf.set(o.drv, [...(outsOf.get(o.drv) ?? []), { id: o.id, path: o.path }]);
    const paths = [];
    const rowIds = new Map();
    let dropped = 0;
    for (const row of rows) {
        if (keep && !keep(row.path))
            continue;
        // Direct children only: the query's prefix also matches deeper paths, which no DB holds.
        if (row.path.slice(storeDir.length + 1).includes('/'))
            continue;
        const rec = {
            path: row.path,
            hash: row.hash,
            registrationTime: row.registrationTime,
            narSize: row.narSize ?? null,
            deriver: row.deriver === '' ? null : (row.deriver ?? null),
            references: refsOf.get(row.path) ?? [],
            outputs: outsOf.get(row.path) ?? []
        };
        if (row.ultimate !== undefined && row.ultimate !== null)
            rec.ultimate = row.ultimate !== 0;
        if (typeof row.sigs === 'string' && row.sigs !== '')
            rec.sigs = row.sigs;
        if (typeof row.ca === 'string' && row.ca !== '')
            rec.ca = row.ca;
        try {
            paths.push(checkRegistration(rec, storeDir, row.path));
            if (Number.isSafeInteger(row.id))
                rowIds.set(row.path, row.id);
        }
        catch (e) {
            // A handful named, the rest counted: a DB with many odd rows must not flood the log.
            if (++dropped <= 5)
                core_warning(`runbox store: the registration of ${JSON.stringify(row.path)} is left out of the snapshot (a restore would refuse it): ${e.message}`);
        }
    }
    if (paths.length > LIMITS.paths)
        throw new Error(`the live DB registers ${paths.length} paths, more than the ${LIMITS.paths} a snapshot may carry`);
    if (dropped > 5)
        core_warning(`runbox store: ${dropped} registrations in all are left out of the snapshot`);
    return { storeDir, paths, rowIds };
}

;// CONCATENATED MODULE: ./src/store/manifest.ts
// The snapshot format: a dir (the one path handed to @actions/cache) holding manifest.json, the
// store archive(s) and the registrations of the saved items (data read from the live DB, see
// registrations.ts; never a DB file). The manifest records a sha256 per file, taken while
// writing, so restore can prove the download intact before anything touches the store.
// It is versioned: a reader refuses any version it does not know (a miss, not a guess), and
// `archives` is a list so later versions can shard the store or add deltas.







const MANIFEST_FILE = 'manifest.json';
/** Archives one snapshot (a delta's base and the delta together, too) may hold. */
const MAX_ARCHIVES = 128;
/** A manifest bigger than this is not read (it holds item names and link anchors, well below). */
const MAX_MANIFEST_BYTES = 256 * 2 ** 20;
/** Top-level items all the archives of one manifest may list together. */
const MAX_ITEMS = 1_000_000;
const FORMAT = 'runbox-store-snapshot';
/**
 * A full snapshot. 3: registrations as data; versions 1 and 2 carried SQLite DB copies, which
 * this runbox refuses to read (a miss).
 */
const FORMAT_VERSION = 3;
/**
 * A delta: only the items its base (a full snapshot, named by key) lacks, plus the DB. A new
 * version rather than an optional field, so a runbox that only reads version 1 refuses a delta
 * cleanly (a miss) instead of taking it for a whole store.
 */
const DELTA_FORMAT_VERSION = 4;
/** More link anchors than one archive may list: a bound on the manifest a restore reads. */
const MAX_LINK_TARGETS = 1_000_000;
/**
 * Bounds on the manifest's JSON, checked on its bytes before JSON.parse: the parser's time and
 * memory grow with the number of values, not the bytes (24 MB of `{},{},...` took node 12 s and
 * 0.7 GB, 180 MB over two minutes, holding the host's restore lock). A real manifest has a few objects per archive and
 * at most MAX_LINK_TARGETS link anchors per archive.
 */
const MANIFEST_LIMITS = { bytes: MAX_MANIFEST_BYTES, containers: 8192, values: 4 * MAX_LINK_TARGETS };
class ManifestError extends Error {
    constructor(message) {
        super(`snapshot manifest: ${message}`);
        this.name = 'ManifestError';
    }
}
const FILE = /^(db\/)?[A-Za-z0-9][A-Za-z0-9._-]*$/;
const SHA = /^[0-9a-f]{64}$/;
function manifest_isObject(v) {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function fileRecord(v, what) {
    if (!manifest_isObject(v))
        throw new ManifestError(`${what} is not an object`);
    const { file, sha256, bytes } = v;
    if (typeof file !== 'string' || !FILE.test(file))
        throw new ManifestError(`${what}.file ${shown(file)} is not a plain file name`);
    if (typeof sha256 !== 'string' || !SHA.test(sha256))
        throw new ManifestError(`${what}.sha256 is not a sha256`);
    if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0)
        throw new ManifestError(`${what}.bytes is not a size`);
    if (v.compression !== 'zstd')
        throw new ManifestError(`${what}.compression ${shown(v.compression)} is not understood`);
    return { file, sha256, bytes };
}
function stringList(v, what) {
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string'))
        throw new ManifestError(`${what} is not a list of strings`);
    return v;
}
/**
 * Parses and checks a manifest against what this restore expects: same format version, same
 * store kind, store paths and DB files only within the configured ones. Files it names must be
 * plain files in the snapshot dir (a symlink there could point a root reader elsewhere).
 */
function readManifest(dir, expect, sizeOf = (name) => {
    const st = external_node_fs_default().lstatSync(external_node_path_default().join(dir, name), { throwIfNoEntry: false });
    return st?.isFile() ? st.size : undefined;
}) {
    const raw = readManifestJson(dir);
    if (!manifest_isObject(raw) || raw.format !== FORMAT)
        throw new ManifestError('not a runbox store snapshot');
    if (raw.version !== FORMAT_VERSION && raw.version !== DELTA_FORMAT_VERSION)
        throw new ManifestError(`format version ${escapedText(raw.version)} is not understood by this runbox (it reads versions ${FORMAT_VERSION} and ${DELTA_FORMAT_VERSION})`);
    const base = readBase(raw.base, raw.version);
    if (raw.kind !== expect.kind)
        throw new ManifestError(`it is a ${escapedText(raw.kind)} snapshot, this step restores ${expect.kind}`);
    const storePaths = stringList(raw.storePaths, 'storePaths');
    for (const p of storePaths)
        if (!expect.storePaths.includes(p))
            throw new ManifestError(`store path ${shown(p)} is not among store-paths (${expect.storePaths.join(', ')})`);
    if (!Array.isArray(raw.archives) || raw.archives.length === 0)
        throw new ManifestError('no archives');
    // Each archive costs a zstd and a tar at restore; runbox itself writes at most MAX_SHARDS.
    if (raw.archives.length > MAX_ARCHIVES)
        throw new ManifestError(`it lists ${raw.archives.length} archives, more than the ${MAX_ARCHIVES} a snapshot may hold`);
    const seenItems = new Set();
    const archives = raw.archives.map((a, i) => {
        const rec = fileRecord(a, `archives[${i}]`);
        const paths = stringList(a.storePaths, `archives[${i}].storePaths`);
        for (const p of paths)
            if (!storePaths.includes(p))
                throw new ManifestError(`archives[${i}] holds ${shown(p)}, which the manifest does not list`);
        const dataBytes = a.dataBytes;
        // Required: the free-space check and the bound while extracting both go by it.
        if (typeof dataBytes !== 'number' || !Number.isSafeInteger(dataBytes) || dataBytes < 0)
            throw new ManifestError(`archives[${i}].dataBytes is missing or not a size`);
        const linkTargets = readLinkTargets(a.linkTargets, paths, `archives[${i}].linkTargets`);
        const items = readItems(a.items, paths, `archives[${i}].items`, seenItems);
        return { ...rec, compression: 'zstd', storePaths: paths, dataBytes, ...(linkTargets ? { linkTargets } : {}), ...(items ? { items } : {}) };
    });
    const registrations = readRegistrationsRecord(raw.registrations);
    const dirTimes = readDirTimes(raw.dirTimes, storePaths);
    const files = [...archives, ...(registrations ? [registrations] : [])];
    const names = files.map((r) => r.file);
    if (new Set(names).size !== names.length)
        throw new ManifestError('a file is listed twice');
    for (const name of names) {
        const size = sizeOf(name);
        if (size === undefined)
            throw new ManifestError(`${name} is missing or not a regular file`);
        if (size !== files.find((r) => r.file === name)?.bytes)
            throw new ManifestError(`${name} is ${size} bytes, the manifest says otherwise (truncated download?)`);
    }
    return {
        format: FORMAT,
        version: base ? DELTA_FORMAT_VERSION : FORMAT_VERSION,
        kind: expect.kind,
        createdAt: typeof raw.createdAt === 'string' ? raw.createdAt : '',
        ...(typeof raw.toolVersion === 'string' ? { toolVersion: raw.toolVersion } : {}),
        storePaths,
        archives,
        ...(dirTimes ? { dirTimes } : {}),
        ...(registrations ? { registrations } : {}),
        ...(base ? { base } : {})
    };
}
/**
 * At most MAX_LINK_TARGETS strings, each a normalised relative path (no leading or trailing
 * `/`, no empty, `.` or `..` component, no NUL) strictly inside one of the archive's store
 * paths. Attacker-controlled like the rest: restore only ever uses it to decide which checked
 * file members of items already in the store to write into its private dir.
 */
function readLinkTargets(v, storePaths, what) {
    if (v === undefined)
        return undefined;
    if (!Array.isArray(v))
        throw new ManifestError(`${what} is not a list`);
    if (v.length > MAX_LINK_TARGETS)
        throw new ManifestError(`${what} lists ${v.length} paths, more than the ${MAX_LINK_TARGETS} an archive may`);
    const roots = storePaths.map((p) => p.replace(/^\/+/, ''));
    v.forEach((p, j) => {
        if (typeof p !== 'string')
            throw new ManifestError(`${what}[${j}] is not a string`);
        const normal = p !== '' && !p.includes('\0') && p.split('/').every((c) => c !== '' && c !== '.' && c !== '..');
        if (!normal)
            throw new ManifestError(`${what}[${j}] '${escapedText(p)}' is not a normalised relative path`);
        if (!roots.some((r) => p.startsWith(`${r}/`)))
            throw new ManifestError(`${what}[${j}] '${escapedText(p)}' is not inside the archive's store paths`);
    });
    return v;
}
/**
 * At most MAX_ITEMS names over the whole manifest (`seen` carries them across archives, and a
 * delta's check carries its base's), each `<store path>/<name>` for one of the archive's store
 * paths, with a name a restore would take as a top-level item (no `/`, no NUL, not `.`-led, not a
 * daemon lock file name, at most 255 bytes), none listed twice anywhere.
 */
function readItems(v, storePaths, what, seen) {
    if (v === undefined)
        return undefined;
    if (!Array.isArray(v))
        throw new ManifestError(`${what} is not a list`);
    if (seen.size + v.length > MAX_ITEMS)
        throw new ManifestError(`${what}: the manifest lists more than the ${MAX_ITEMS} items a snapshot may`);
    v.forEach((p, j) => {
        if (typeof p !== 'string')
            throw new ManifestError(`${what}[${j}] is not a string`);
        const sp = storePaths.find((r) => p.startsWith(`${r}/`));
        const name = sp === undefined ? '' : p.slice(sp.length + 1);
        const ok = name !== '' && Buffer.byteLength(name) <= 255 && !/[/\0]/.test(name) && !name.startsWith('.') && !isDaemonLockName(name);
        if (!ok)
            throw new ManifestError(`${what}[${j}] ${shown(p.slice(0, 300))} is not a store item directly in one of the archive's store paths`);
        if (seen.has(p))
            throw new ManifestError(`${what}[${j}] ${shown(p)} is listed twice (items are unique across a snapshot's archives)`);
        seen.add(p);
    });
    return v;
}
/** Only the one file name save writes, and no bigger than a restore will read. */
function readRegistrationsRecord(v) {
    if (v === undefined)
        return undefined;
    const rec = fileRecord(v, 'registrations');
    if (rec.file !== REGISTRATIONS_FILE)
        throw new ManifestError(`registrations.file ${shown(rec.file)} is not ${REGISTRATIONS_FILE}`);
    if (rec.bytes > LIMITS.fileBytes)
        throw new ManifestError(`registrations is ${rec.bytes} bytes, over the ${LIMITS.fileBytes} a restore reads`);
    const { paths } = v;
    if (typeof paths !== 'number' || !Number.isSafeInteger(paths) || paths < 0 || paths > LIMITS.paths)
        throw new ManifestError('registrations.paths is not a count');
    return { ...rec, compression: 'zstd', paths };
}
/** A full snapshot has no base; a delta must have one, named by a usable cache key. */
function readBase(v, version) {
    if (version === FORMAT_VERSION) {
        if (v !== undefined)
            throw new ManifestError(`a version ${FORMAT_VERSION} (full) snapshot cannot name a base`);
        return undefined;
    }
    if (!manifest_isObject(v))
        throw new ManifestError(`a delta snapshot (version ${DELTA_FORMAT_VERSION}) names no base`);
    const { key, bytes } = v;
    if (typeof key !== 'string' || key === '')
        throw new ManifestError('base.key is not a non-empty string');
    const problem = keyProblem(key);
    if (problem)
        throw new ManifestError(`base.key ${shown(key, 80)} is not a cache key: ${problem}`);
    if (bytes !== undefined && (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0))
        throw new ManifestError('base.bytes is not a size');
    return { key, ...(typeof bytes === 'number' ? { bytes } : {}) };
}
/** The base key a downloaded snapshot names, read before it is verified (to fetch the base); undefined for a full one. */
function peekBaseKey(dir) {
    try {
        const raw = readManifestJson(dir);
        if (!manifest_isObject(raw) || raw.version !== DELTA_FORMAT_VERSION || !manifest_isObject(raw.base))
            return undefined;
        return typeof raw.base.key === 'string' ? raw.base.key : undefined;
    }
    catch {
        return undefined; // readManifest says why, later
    }
}
/**
 * The manifest's JSON, parsed only once its bytes are within MANIFEST_LIMITS: its size, and the
 * objects/arrays and values (commas) outside strings, counted in one pass over the bytes.
 */
function readManifestJson(dir) {
    const file = external_node_path_default().join(dir, MANIFEST_FILE);
    let bytes;
    try {
        const fd = external_node_fs_default().openSync(file, (external_node_fs_default()).constants.O_RDONLY | (external_node_fs_default()).constants.O_NOFOLLOW);
        try {
            const size = external_node_fs_default().fstatSync(fd).size;
            if (size > MANIFEST_LIMITS.bytes)
                throw new ManifestError(`${MANIFEST_FILE} is ${size} bytes, more than the ${MANIFEST_LIMITS.bytes} a manifest may be`);
            bytes = external_node_fs_default().readFileSync(fd);
        }
        finally {
            external_node_fs_default().closeSync(fd);
        }
    }
    catch (e) {
        if (e instanceof ManifestError)
            throw e;
        throw new ManifestError(`cannot read ${file}: ${e.message}`);
    }
    let containers = 0;
    let values = 0;
    let inString = false;
    for (let i = 0; i < bytes.length; i++) {
        const b = bytes[i];
        if (inString) {
            if (b === 0x5c)
                i++;
            else if (b === 0x22)
                inString = false;
        }
        else if (b === 0x22)
            inString = true;
        else if (b === 0x7b || b === 0x5b)
            containers++;
        else if (b === 0x2c)
            values++;
    }
    if (containers > MANIFEST_LIMITS.containers)
        throw new ManifestError(`${MANIFEST_FILE} holds more than the ${MANIFEST_LIMITS.containers} objects and lists a manifest may hold`);
    if (values > MANIFEST_LIMITS.values)
        throw new ManifestError(`${MANIFEST_FILE} holds more than the ${MANIFEST_LIMITS.values} values a manifest may hold`);
    try {
        return JSON.parse(bytes.toString('utf8'));
    }
    catch (e) {
        throw new ManifestError(`cannot read ${file}: ${e.message}`);
    }
}
/**
 * Only mtimes, and only of a store path or a dot-named dir directly in one: restore applies
 * them as root, to dirs it created itself, so nothing else may be named here.
 */
function readDirTimes(v, storePaths) {
    if (v === undefined)
        return undefined;
    if (!Array.isArray(v))
        throw new ManifestError('dirTimes is not a list');
    return v.map((d, i) => {
        if (!manifest_isObject(d))
            throw new ManifestError(`dirTimes[${i}] is not an object`);
        const { path: p, mtime } = d;
        if (typeof mtime !== 'string' || !MTIME.test(mtime))
            throw new ManifestError(`dirTimes[${i}].mtime is not a time`);
        const ok = typeof p === 'string' && (storePaths.includes(p) || (storePaths.includes(external_node_path_default().dirname(p)) && /^\.[A-Za-z0-9._-]*$/.test(external_node_path_default().basename(p)) && !/^\.\.?$/.test(external_node_path_default().basename(p))));
        if (!ok)
            throw new ManifestError(`dirTimes[${i}].path ${shown(p)} is neither a store path nor a dot-dir directly in one`);
        return { path: p, mtime };
    });
}
/** Compressed bytes of the files a manifest lists (archives and registrations). */
function manifestBytes(m) {
    return m.archives.reduce((n, a) => n + a.bytes, 0) + (m.registrations?.bytes ?? 0);
}
/** The manifest file's bytes. */
function encodeManifest(m) {
    return Buffer.from(`${JSON.stringify(m, null, 2)}\n`, 'utf8');
}
function writeManifest(dir, m) {
    fs.writeFileSync(path.join(dir, MANIFEST_FILE), encodeManifest(m));
}
/**
 * The member rule for the DB dir: nothing of it ever comes from an archive, not the DB files and
 * journals, and no other file either (a `schema` file a fresh host lacks would set the version
 * the daemon migrates its DB from). Save never archives it; restore refuses any member in it.
 */
function isLiveDbFile(absPath, dbDir) {
    return inDbDir(absPath, dbDir);
}
/** The DB dir itself or anything in it: never archived (the registrations carry what the DB knows). */
function inDbDir(absPath, dbDir) {
    return dbDir !== undefined && (absPath === dbDir || absPath.startsWith(`${dbDir}/`));
}

;// CONCATENATED MODULE: external "node:stream/promises"
const promises_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:stream/promises");
;// CONCATENATED MODULE: ./src/store/extract.ts
// Proving downloaded snapshot files intact: each one's sha256 against the manifest's. The
// archives themselves are read, checked and extracted in private-extract.ts.




class IntegrityError extends Error {
    constructor(message) {
        super(message);
        this.name = 'IntegrityError';
    }
}
async function sha256File(file) {
    const h = external_node_crypto_default().createHash('sha256');
    await (0,promises_namespaceObject.pipeline)((0,external_node_fs_.createReadStream)(file), h);
    return h.digest('hex');
}
/** Throws IntegrityError when `got` is not the sha256 recorded at save time. */
function checkDigest(got, rec) {
    if (got !== rec.sha256)
        throw new IntegrityError(`${rec.file}: sha256 ${got} differs from ${rec.sha256} recorded at save time (corrupt or truncated download)`);
}
/** Checks a downloaded file against the checksum recorded at save time. */
async function verifyFile(file, rec) {
    checkDigest(await sha256File(file), rec);
}
/** Decompresses a verified DB copy into the scratch dir. */
async function decompressTo(file, dest) {
    await runPipeline([{ cmd: 'zstd', args: ['-d', '-q', '-c', file] }], {
        consume: (out) => pipeline(out, fs.createWriteStream(dest, { flags: 'wx' }))
    });
}

;// CONCATENATED MODULE: ./src/store/snapshot-files.ts
// Where a snapshot's files come from when restore reads them: a dir on disk (tests, and the
// files fetched whole: manifest and registrations), or the cache entry itself, whose archives
// are streamed frame by frame through their proven chunks (entry/reader.ts fileChunks) and
// never written to disk. Restore reads an archive only through open(), so both look the same
// to it; what differs is who proved the bytes (the entry index's chunk digests, or nobody yet:
// the manifest's sha256 is checked over the stream either way).





/** Files in a dir (the snapshot as one dir on disk). */
function localFiles(dir) {
    return {
        where: dir,
        sizeOf(name) {
            const st = external_node_fs_default().lstatSync(external_node_path_default().join(dir, name), { throwIfNoEntry: false });
            return st?.isFile() ? st.size : undefined;
        },
        open: (name) => external_node_fs_default().createReadStream(external_node_path_default().join(dir, name)),
        reread: (name) => sha256File(external_node_path_default().join(dir, name))
    };
}
/** The files of a cache entry, streamed by ranged reads, each chunk proven by the index first. */
function entryFiles(src, files, where) {
    const byName = new Map(files.map((f) => [f.name, f]));
    let fetched = 0;
    async function* open(name) {
        const f = byName.get(name);
        if (!f)
            throw new Error(`${name} is not in the cache entry`);
        for await (const b of fileChunks(src, f)) {
            fetched += b.length;
            yield b;
        }
    }
    return {
        where,
        sizeOf: (name) => byName.get(name)?.length,
        fetchedBytes: () => fetched,
        open,
        sha256Of: (name) => byName.get(name)?.sha256,
        // Only after a failed extract (to tell an archive that differs from its manifest record from
        // a bad one): the frame is fetched again, proven chunk by chunk, and hashed.
        async reread(name) {
            const h = (0,external_node_crypto_.createHash)('sha256');
            for await (const b of open(name))
                h.update(b);
            return h.digest('hex');
        }
    };
}

;// CONCATENATED MODULE: ./src/store/entry/writer.ts
// Writes a staging dir (`manifest.json`, `store*.tar.zst`, `db/*`) as a runbox entry v2. The
// files are hashed once up front, so the total size is known before the upload starts and any
// byte range of the entry can be produced again on demand (a retried block) straight from the
// files: nothing of the entry is held in memory but its index.







/** A file's sha256 and the sha256 of each CHUNK_BYTES piece of it (the index's digests), fed as it goes. */
class FileDigests {
    whole = (0,external_node_crypto_.createHash)('sha256');
    chunks = [];
    piece = (0,external_node_crypto_.createHash)('sha256');
    inPiece = 0;
    update(b) {
        this.whole.update(b);
        for (let off = 0; off < b.length;) {
            const take = Math.min(CHUNK_BYTES - this.inPiece, b.length - off);
            this.piece.update(b.subarray(off, off + take));
            this.inPiece += take;
            off += take;
            if (this.inPiece === CHUNK_BYTES) {
                this.chunks.push(this.piece.digest('hex'));
                this.piece = (0,external_node_crypto_.createHash)('sha256');
                this.inPiece = 0;
            }
        }
    }
    /** Once, after the last byte: the whole file's sha256 (the last short piece's digest is added). */
    finish() {
        if (this.inPiece > 0)
            this.chunks.push(this.piece.digest('hex'));
        return this.whole.digest('hex');
    }
}
/** The file's sha256 and the sha256 of each CHUNK_BYTES piece of it, in one read. */
async function digestFile(file) {
    const d = new FileDigests();
    for await (const b of fs.createReadStream(file, { highWaterMark: 1024 * 1024 }))
        d.update(b);
    const sha256 = d.finish();
    return { sha256, chunks: d.chunks };
}
/** Regular files of `dir` and `dir/db`, as entry names; anything else in there is refused. */
function listStaging(dir) {
    const names = [];
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
        if (d.isDirectory() && d.name === 'db') {
            for (const s of fs.readdirSync(path.join(dir, 'db'), { withFileTypes: true })) {
                if (!s.isFile())
                    throw new Error(`${path.join(dir, 'db', s.name)} is not a regular file; a snapshot holds only files`);
                names.push(`db/${s.name}`);
            }
        }
        else if (d.isFile())
            names.push(d.name);
        else
            throw new Error(`${path.join(dir, d.name)} is not a regular file; a snapshot holds only files and db/`);
    }
    for (const n of names)
        if (!NAME_PATTERN.test(n))
            throw new Error(`${n} in ${dir} is not a name a runbox entry can hold`);
    if (names.length > MAX_FILES)
        throw new Error(`${dir} holds ${names.length} files, more than the ${MAX_FILES} an entry can hold`);
    return names.sort();
}
async function writer_planEntry(dir, signingKey) {
    const files = [];
    const parts = [];
    let offset = 0;
    for (const name of listStaging(dir)) {
        const file = path.join(dir, name);
        const length = fs.statSync(file).size;
        const digests = await digestFile(file);
        if (digests.chunks.length !== chunkCount(length))
            throw new Error(`${file} changed size while the snapshot was being hashed`);
        files.push({ name, offset, length, ...digests });
        parts.push({ file, offset, length });
        offset += length;
    }
    // A file that changed while it was hashed would be caught by the reader; catch it here first.
    for (const p of parts)
        if (fs.statSync(p.file).size !== p.length)
            throw new Error(`${p.file} changed size while the snapshot was being hashed`);
    const index = encodeIndex(files);
    if (index.length > MAX_INDEX_BYTES)
        throw new Error(`the entry index would be ${index.length} bytes, more than ${MAX_INDEX_BYTES}`);
    const signature = signingKey ? signIndex(signingKey, index) : Buffer.alloc(0);
    const tail = Buffer.concat([index, signature, encodeTrailer({ indexLength: index.length, signatureLength: signature.length })]);
    parts.push({ offset, length: tail.length });
    const size = offset + tail.length;
    if (size > MAX_ENTRY_BYTES)
        throw new Error(`the snapshot is ${size} bytes, more than the ${MAX_ENTRY_BYTES} a runbox entry may be`);
    return { size, files, parts, tail, ...(signingKey ? { keyId: publicKeyLine(signingKey) } : {}) };
}
/** Bytes [start, end) of the entry, read from the staging files again on every call. */
function writer_entryRange(plan, start, end) {
    if (!(start >= 0 && start <= end && end <= plan.size))
        throw new RangeError(`range ${start}-${end} outside the ${plan.size}-byte entry`);
    async function* gen() {
        for (const p of plan.parts) {
            const from = Math.max(start, p.offset);
            const to = Math.min(end, p.offset + p.length);
            if (from >= to)
                continue;
            if (!p.file) {
                yield plan.tail.subarray(from - p.offset, to - p.offset);
                continue;
            }
            let n = 0;
            for await (const chunk of fs.createReadStream(p.file, { start: from - p.offset, end: to - p.offset - 1 })) {
                n += chunk.length;
                yield chunk;
            }
            if (n !== to - from)
                throw new Error(`${p.file} shrank while it was being uploaded`);
        }
    }
    return Readable.from(gen(), { objectMode: false });
}
/** The upload failed; the snapshot is not the problem. */
class UploadError extends Error {
    constructor(message, cause) {
        super(message, { cause });
        this.name = 'UploadError';
    }
}
/** The whole pool buffer a block's data is a view of (from its start: see put's cut). */
const poolBuffer = (view) => Buffer.from(view.buffer, view.byteOffset, view.buffer.byteLength - view.byteOffset);
/** A FIFO lock: who holds it writes at the entry's current end (ordered sinks). */
class Turn {
    tail = Promise.resolve();
    take() {
        let release;
        const mine = new Promise((r) => (release = r));
        const before = this.tail;
        this.tail = before.then(() => mine);
        return before.then(() => release);
    }
}
/** Counts blocks in flight; take() waits for a free slot, which is what bounds memory. */
class Slots {
    free;
    waiting = [];
    constructor(n) {
        this.free = n;
    }
    async take() {
        if (this.free > 0) {
            this.free--;
            return;
        }
        await new Promise((r) => this.waiting.push(r));
    }
    give() {
        const w = this.waiting.shift();
        if (w)
            w();
        else
            this.free++;
    }
}
/**
 * A runbox entry v2 written as it is made: each file (a frame, the registrations, the manifest)
 * is hashed (whole and per CHUNK_BYTES piece) and cut into blocks on its way to the sink, and
 * placed in the entry when it ends, so files produced side by side land in the order they
 * finish. The index, signature and trailer go last (finish). Nothing is written to disk; memory
 * holds the blocks in flight, one partial block per open file, and, for ordered sinks, what a
 * file waiting for its turn holds (heldBytes).
 */
class EntryStream {
    sink;
    opts;
    files = [];
    refs = [];
    names = new Set();
    next = 0;
    failure;
    /** A file that did not end well: the entry can no longer be finished. */
    broken;
    slots;
    /** Block buffers: every block in flight or held, and the one each open file fills. */
    blocks;
    turn = new Turn();
    finished = false;
    constructor(sink, opts) {
        this.sink = sink;
        this.opts = opts;
        if (!(opts.blockBytes > 0 && opts.concurrency > 0))
            throw new RangeError('EntryStream: blockBytes and concurrency must be positive');
        this.slots = new Slots(opts.concurrency);
        this.blocks = new BufferPool(opts.blockBytes, opts.concurrency + Math.ceil((opts.heldBytes ?? 4 * opts.blockBytes) / opts.blockBytes) + 2);
    }
    /** Bytes handed to the stream so far (made, not necessarily sent): what progress shows. */
    handed = 0;
    check() {
        if (this.failure)
            throw this.failure;
    }
    /** Sends one block; resolves once a slot is taken (not when it is sent), so the caller keeps producing. */
    async send(data, offset, done, pending) {
        this.check();
        await this.slots.take();
        this.check();
        pending.push(this.sink.put(data, offset).then((ref) => {
            this.slots.give();
            for (const d of data)
                this.blocks.give(poolBuffer(d));
            done(ref);
        }, (e) => {
            this.slots.give();
            for (const d of data)
                this.blocks.give(poolBuffer(d));
            this.failure ??= new UploadError(e instanceof Error ? e.message : String(e), e);
        }));
    }
    /** Takes all of `src` as the entry file `name`; its sha256 and length once it is placed. */
    async put(name, src) {
        if (this.finished)
            throw new Error(`EntryStream: ${name} after finish`);
        if (!format_NAME_PATTERN.test(name))
            throw new Error(`${name} is not a name a runbox entry can hold`);
        if (this.names.has(name))
            throw new Error(`${name} is in the entry already`);
        if (this.names.size >= format_MAX_FILES - 1)
            throw new Error(`more than the ${format_MAX_FILES} files an entry can hold`);
        this.names.add(name);
        this.check();
        const ordered = this.sink.ordered;
        const digests = new FileDigests();
        const refs = [];
        const pending = [];
        let length = 0;
        const pool = this.blocks;
        // The block being filled: a buffer of the pool, given back once its upload settled.
        let block = pool.take();
        let partLen = 0;
        // Ordered only: blocks kept until this file's turn, its offset and sent bytes once it has it.
        let held = [];
        let heldLen = 0;
        let offset;
        let sent = 0;
        let release;
        const heldCap = this.opts.heldBytes ?? 4 * this.opts.blockBytes;
        // `data` is a view of a pool buffer: back to the pool when its upload settles, not before.
        const ship = async (data) => {
            if (!ordered) {
                const i = refs.push('') - 1;
                return this.send([data], undefined, (r) => (refs[i] = r), pending);
            }
            if (offset === undefined) {
                held.push(data);
                heldLen += data.length;
                if (heldLen <= heldCap)
                    return;
                await takeTurn();
                return;
            }
            const at = offset + sent;
            sent += data.length;
            const i = refs.push('') - 1;
            return this.send([data], at, (r) => (refs[i] = r), pending);
        };
        const takeTurn = async () => {
            release = await this.turn.take();
            offset = this.next;
            const blocks = held;
            held = [];
            heldLen = 0;
            for (const b of blocks)
                await ship(b);
        };
        const cut = async () => {
            const data = block.subarray(0, partLen);
            block = pool.take();
            partLen = 0;
            await ship(data);
        };
        try {
            for await (const b of src) {
                digests.update(b);
                length += b.length;
                this.handed += b.length;
                for (let off = 0; off < b.length;) {
                    const take = Math.min(this.opts.blockBytes - partLen, b.length - off);
                    // Copied: the source may fill `b` again once the next piece is asked for (a child's
                    // output read into one buffer, pipeline.ts), and the pool's buffers are used again.
                    b.copy(block, partLen, off, off + take);
                    partLen += take;
                    off += take;
                    if (partLen === this.opts.blockBytes)
                        await cut();
                }
            }
            const sha256 = digests.finish();
            if (partLen > 0)
                await cut();
            if (ordered && offset === undefined)
                await takeTurn();
            await Promise.all(pending);
            this.check();
            if (length > format_MAX_ENTRY_BYTES - this.next)
                throw new Error(`the snapshot is more than the ${format_MAX_ENTRY_BYTES} bytes a runbox entry may be`);
            // Placed now: for an ordered sink this file holds the turn, so next is its offset.
            const at = ordered ? offset : this.next;
            this.files.push({ name, offset: at, length, sha256, chunks: digests.chunks });
            this.refs.push(...refs);
            this.next = at + length;
            return { sha256, bytes: length };
        }
        catch (e) {
            this.broken ??= `${name} was not written whole (${e instanceof Error ? e.message : String(e)})`;
            throw e;
        }
        finally {
            // Blocks still in flight after a failure must settle before the caller tears down.
            await Promise.allSettled(pending);
            release?.();
            // Never sent (a failure before this file's turn) or never filled: nobody reads them.
            for (const b of held)
                pool.give(poolBuffer(b));
            pool.give(block);
        }
    }
    /** Sends the index, signature and trailer; the block references in entry order and the entry's size. */
    async finish() {
        this.check();
        if (this.broken)
            throw new Error(`the entry cannot be finished: ${this.broken}`);
        this.finished = true;
        const index = format_encodeIndex(this.files);
        if (index.length > format_MAX_INDEX_BYTES)
            throw new Error(`the entry index would be ${index.length} bytes, more than ${format_MAX_INDEX_BYTES}`);
        const key = this.opts.signingKey;
        const signature = key ? signing_signIndex(key, index) : Buffer.alloc(0);
        const tail = Buffer.concat([index, signature, format_encodeTrailer({ indexLength: index.length, signatureLength: signature.length })]);
        const pending = [];
        let ref = '';
        await this.send([tail], this.next, (r) => (ref = r), pending);
        await Promise.all(pending);
        this.check();
        const size = this.next + tail.length;
        if (size > format_MAX_ENTRY_BYTES)
            throw new Error(`the snapshot is ${size} bytes, more than the ${format_MAX_ENTRY_BYTES} a runbox entry may be`);
        return { refs: [...this.refs, ref], size, files: this.files, ...(key ? { keyId: signing_publicKeyLine(key) } : {}) };
    }
}

;// CONCATENATED MODULE: ./src/store/staging.ts
// The per-run staging dir: runner-owned, under RUNNER_TEMP (which the runner wipes between jobs),
// named so that removal can prove it is ours before deleting anything. Each one is also
// registered as a cleanup: a cancelled step exits from its signal handler, where the callers'
// `finally` blocks never run.




const STAGING_PREFIX = 'runbox-store-';
const unregisters = new Map();
function createStaging(base) {
    external_node_fs_default().mkdirSync(base, { recursive: true });
    const dir = external_node_fs_default().mkdtempSync(external_node_path_default().join(base, STAGING_PREFIX));
    unregisters.set(dir, registerCleanup(() => removeStaging(dir, base)));
    return dir;
}
/**
 * Removes a staging dir made by createStaging. Refuses anything else: a path that is not a
 * direct child of `base` named runbox-store-*, or a symlink.
 */
function removeStaging(dir, base) {
    unregisters.get(dir)?.();
    unregisters.delete(dir);
    const resolvedBase = external_node_fs_default().realpathSync(base);
    if (external_node_path_default().dirname(dir) !== base && external_node_path_default().dirname(dir) !== resolvedBase)
        throw new Error(`refusing to remove ${dir}: not directly in ${base}`);
    if (!external_node_path_default().basename(dir).startsWith(STAGING_PREFIX))
        throw new Error(`refusing to remove ${dir}: not a runbox staging dir`);
    const st = external_node_fs_default().lstatSync(dir, { throwIfNoEntry: false });
    if (!st)
        return;
    if (!st.isDirectory())
        throw new Error(`refusing to remove ${dir}: not a real directory`);
    external_node_fs_default().rmSync(dir, { recursive: true, force: true });
}
/**
 * When `e` is the staging filesystem running out of space, what to tell the user: the path, how
 * full it is and what was being written, instead of a bare ENOSPC (or, on restore, a snapshot
 * that looks evicted). undefined for any other error.
 */
function stagingSpaceProblem(e, base, writing) {
    const code = e?.code;
    const message = e instanceof Error ? e.message : String(e);
    // The entry reader checks the free space before it writes ("not enough free space in"); the
    // rest is the kernel's ENOSPC as node, tar or zstd report it.
    if (code !== 'ENOSPC' && !/ENOSPC|No space left on device|not enough free space in/.test(message))
        return undefined;
    let fsState = '';
    try {
        const s = external_node_fs_default().statfsSync(base);
        fsState = ` (${formatBytes(s.bavail * s.bsize)} free of ${formatBytes(s.blocks * s.bsize)} once runbox removed its files)`;
    }
    catch (err) {
        fsState = ` (its size could not be read: ${err.message})`;
    }
    return (`no space left on the filesystem of ${base} (RUNNER_TEMP, where runbox stages ${writing})${fsState}. ` +
        `Free space there, or give the runner a RUNNER_TEMP on a filesystem with room for the compressed snapshot`);
}

;// CONCATENATED MODULE: ./src/action/progress.ts
// Long work that prints nothing for tens of seconds looks hung in a job log; someone then cancels
// a restore that was nearly done. A ticker says every 10 s how far the work got and how fast.




function everyMs() {
    // Test-only: a test's fixture store is done in well under 10 s.
    const t = Number(process.env.RUNBOX_TEST_PROGRESS_MS);
    return Number.isFinite(t) && t > 0 ? t : 10_000;
}
/** Bytes in the regular files under `dir` (a staging dir: a few files, runner-owned). */
function bytesUnder(dir) {
    let n = 0;
    const walk = (d) => {
        let names;
        try {
            names = external_node_fs_default().readdirSync(d, { withFileTypes: true });
        }
        catch (e) {
            // Files come and go while the work runs; a dir removed under us just counts nothing.
            if (e.code === 'ENOENT')
                return;
            throw e;
        }
        for (const e of names) {
            const p = external_node_path_default().join(d, e.name);
            if (e.isDirectory())
                walk(p);
            else if (e.isFile())
                n += external_node_fs_default().lstatSync(p, { throwIfNoEntry: false })?.size ?? 0;
        }
    };
    walk(dir);
    return n;
}
/**
 * Logs `<label>: <bytes> [of <total>] (<rate>)` every 10 s while `work` runs, from `measure`
 * (bytes done so far); returns what `work` returns.
 */
async function progress_withProgress(label, measure, work, total) {
    const t0 = Date.now();
    const timer = setInterval(() => {
        if (!measure) {
            // Work whose bytes are not visible to this process (root's tar writing a root-only dir).
            info(`${label}: still working after ${Math.round((Date.now() - t0) / 1000)} s${total ? ` (${formatBytes(total)} in all)` : ''}`);
            return;
        }
        let done;
        try {
            done = measure();
        }
        catch (e) {
            core_debug(`${label}: progress not measured: ${e.message}`);
            return;
        }
        const sec = (Date.now() - t0) / 1000;
        info(`${label}: ${formatBytes(done)}${total ? ` of ${formatBytes(total)}` : ''} after ${Math.round(sec)} s (${formatBytes(sec > 0 ? done / sec : 0)}/s)`);
    }, everyMs());
    try {
        return await work();
    }
    finally {
        clearInterval(timer);
    }
}

;// CONCATENATED MODULE: ./src/store/cache-io.ts
// The only place that talks to the Actions cache service. A snapshot is stored as one runbox
// entry (src/store/entry: the staging files back to back, a checked index with per-chunk
// digests, an optional ed25519 signature, a trailer), never as a tar: @actions/cache would wrap
// the staging dir in its own tar and unpack it with `tar -P`, so whoever can write the cache
// would choose what that untrusted outer archive writes where. Here restore reads the entry's
// trailer and index by small ranged reads (the signature checked first), fetches the manifest
// and registrations whole under checked names into a fresh staging dir, and leaves the archives
// (frames) in the cache: restore.ts streams only the frames it needs, each chunk proven first.
//
// The cache version partitions formats and stores: an old @actions/cache entry, or one for
// another store kind or store-paths list, is simply a miss.
//
// Save streams: beginEntry gives an EntryStream that archive.ts hands each frame to as zstd
// makes it; the key is reserved when the first block is ready, the blocks go to the service
// while later frames are still being made, and the index goes last. Nothing is finalized unless every block was sent and the
// commit succeeded, so a failure anywhere leaves no entry behind.
//
// The cache service is optional by nature: every failure here is a warning and a miss.















const SNAPSHOT_DIR = 'runbox-snapshot';
const ENTRY_FORMAT = 'runbox-entry-v2';
/** The cache version of runbox entries for this store: sha256 of `runbox-entry-v2|<kind>|<paths>` (an older format is a miss). */
function entryVersion(kind, storePaths) {
    return (0,external_node_crypto_.createHash)('sha256')
        .update(`${ENTRY_FORMAT}|${kind}|${storePaths.join('|')}`)
        .digest('hex');
}
function client(what, need) {
    const svc = serviceFromEnv();
    if (typeof svc === 'string') {
        core_warning(`runbox store: the Actions cache service is not available to this job (${svc}); ${what}`);
        return undefined;
    }
    if (need === 'read' ? !svc.readable : !svc.writable) {
        info(`ACTIONS_CACHE_MODE is '${svc.mode}', which does not permit cache ${need === 'read' ? 'reads' : 'writes'}; ${what}`);
        return undefined;
    }
    return clientFor(svc);
}
/**
 * The matched key the service names must be one we asked for or extend one as a prefix, and be a
 * key the service itself would accept: it ends up in outputs, state and log lines.
 */
function matchedKeyProblem(matched, keys) {
    if (/[^\x20-\x7e]/.test(matched))
        return 'it holds control or non-ASCII characters';
    if (keyProblem(matched))
        return keyProblem(matched);
    if (!keys.some((k) => matched.startsWith(k)))
        return 'it is none of the keys asked for, nor extends one';
    return undefined;
}
/** Bounds on the files fetched whole: what a restore reads into memory to parse. */
const WHOLE_FILES = new Map([
    [MANIFEST_FILE, MAX_MANIFEST_BYTES],
    [REGISTRATIONS_FILE, LIMITS.fileBytes]
]);
/**
 * Looks up the newest entry matching key / restore keys, proves its index (and signature), and
 * fetches its manifest and registrations into `<parent>/runbox-snapshot`; the archives are left
 * in the cache (see FetchedEntry.files). Undefined on a miss or any problem (a warning).
 */
async function restoreEntry(parent, primaryKey, restoreKeys, opts) {
    const keys = [primaryKey, ...restoreKeys];
    const bad = keys.find((k) => keyProblem(k) !== undefined);
    if (bad !== undefined || keys.length > MAX_KEYS) {
        core_warning(`runbox store: the cache keys cannot be looked up (${bad !== undefined ? `${shown(bad)}: ${keyProblem(bad)}` : `${keys.length} keys, at most ${MAX_KEYS}`}); no snapshot is restored`);
        return undefined;
    }
    const c = client('no snapshot is restored', 'read');
    if (!c)
        return undefined;
    let hit;
    try {
        hit = await c.find(keys, entryVersion(opts.kind, opts.storePaths));
    }
    catch (e) {
        core_warning(`runbox store: cache lookup failed, continuing without a snapshot: ${http_describe(e)}`);
        return undefined;
    }
    if (!hit)
        return undefined;
    const problem = matchedKeyProblem(hit.matchedKey, keys);
    if (problem) {
        core_warning(`runbox store: the cache service answered with the key ${shown(hit.matchedKey)}, which is refused (${problem}); continuing as on a cache miss`);
        return undefined;
    }
    const matched = hit.matchedKey;
    const dir = external_node_path_default().join(parent, SNAPSHOT_DIR);
    try {
        const src = await openBlob(hit.url, format_MAX_ENTRY_BYTES);
        const r = await readIndex(src, opts.trustedKeys ?? []);
        const whole = r.files.filter((f) => WHOLE_FILES.has(f.name));
        for (const f of whole)
            if (f.length > WHOLE_FILES.get(f.name))
                throw new EntryFormatError(`${f.name} is ${f.length} bytes, more than the ${WHOLE_FILES.get(f.name)} a restore reads`);
        const wholeBytes = whole.reduce((n, f) => n + f.length, 0);
        const free = freeBytes(parent);
        if (free < wholeBytes)
            throw new Error(`not enough free space in ${parent} for the snapshot's manifest and registrations: ${wholeBytes} bytes needed, ${free} bytes free`);
        // Outside the try: an existing dir is an error, never something removed here.
        external_node_fs_default().mkdirSync(dir, { mode: 0o700 });
        try {
            for (const f of whole)
                await fetchFile(src, f, external_node_path_default().join(dir, f.name));
        }
        catch (e) {
            external_node_fs_default().rmSync(dir, { recursive: true, force: true });
            throw e;
        }
        info(`found ${matched}: ${r.files.length} files, ${src.size} bytes${r.verified ? `, signed by ${r.signer} (trusted)` : r.signer ? `, signed by ${r.signer} (not checked: no trusted-keys)` : ', unsigned'}`);
        return { matched, dir, files: entryFiles(src, r.files, `the cache entry ${matched}`), bytes: src.size, metaBytes: src.size - r.dataBytes + wholeBytes };
    }
    catch (e) {
        const why = e instanceof EntryTrustError
            ? 'is not trusted'
            : e instanceof EntryFormatError
                ? 'is not a well-formed runbox entry'
                : e instanceof format_EntryIntegrityError
                    ? 'does not match its own index'
                    : 'could not be downloaded';
        const space = stagingSpaceProblem(e, external_node_path_default().dirname(parent), `the downloaded snapshot ${matched}`);
        if (space) {
            opts.spaceProblems?.push(space);
            core_warning(`runbox store: the snapshot ${matched} could not be written: ${space}; continuing as on a cache miss (${http_describe(e)})`);
            return undefined;
        }
        core_warning(`runbox store: the snapshot ${matched} ${why}, continuing as on a cache miss: ${http_describe(e)}`);
        return undefined;
    }
}
/**
 * `lookup-only`: the key of the newest entry matching key / restore keys, or undefined, without
 * downloading a byte of it. The same checks of the keys and of the service's answer as a restore.
 */
async function lookupEntry(primaryKey, restoreKeys, opts) {
    const keys = [primaryKey, ...restoreKeys];
    const bad = keys.find((k) => keyProblem(k) !== undefined);
    if (bad !== undefined || keys.length > MAX_KEYS) {
        core_warning(`runbox store: the cache keys cannot be looked up (${bad !== undefined ? `${shown(bad)}: ${keyProblem(bad)}` : `${keys.length} keys, at most ${MAX_KEYS}`})`);
        return undefined;
    }
    const c = client('nothing is looked up', 'read');
    if (!c)
        return undefined;
    try {
        const hit = await c.find(keys, entryVersion(opts.kind, opts.storePaths));
        if (!hit)
            return undefined;
        const problem = matchedKeyProblem(hit.matchedKey, keys);
        if (!problem)
            return hit.matchedKey;
        core_warning(`runbox store: the cache service answered with the key ${shown(hit.matchedKey)}, which is refused (${problem}); continuing as on a cache miss`);
    }
    catch (e) {
        core_warning(`runbox store: cache lookup failed, continuing as on a cache miss: ${http_describe(e)}`);
    }
    return undefined;
}
/** The client a save under `key` goes through, or undefined after a warning: an unusable key, no service. */
function saveClient(key) {
    const problem = keyProblem(key);
    if (problem) {
        core_warning(`runbox store: the snapshot is not saved: the key ${shown(key)} is unusable (${problem})`);
        return undefined;
    }
    return client('the snapshot is not saved', 'write');
}
/** Uploads `<parent>/runbox-snapshot` under key; the entry id, or undefined when nothing was saved. */
async function saveEntry(parent, key, opts) {
    const c = saveClient(key);
    if (!c)
        return undefined;
    try {
        const plan = await planEntry(path.join(parent, SNAPSHOT_DIR), opts.signingKey);
        // Bytes handed to the upload so far (a retried block counts again): enough to show it moves.
        let handed = 0;
        const r = await withProgress('uploading the snapshot', () => Math.min(handed, plan.size), () => c.save(key, entryVersion(opts.kind, opts.storePaths), plan.size, (start, end) => {
            handed += end - start;
            return entryRange(plan, start, end);
        }, { ...(opts.blockBytes ? { blockBytes: opts.blockBytes } : {}) }), plan.size);
        if ('id' in r)
            return r.id;
        core.warning(`runbox store: the cache service did not take the snapshot under ${key}: ${r.refused}. The job goes on.`);
        return undefined;
    }
    catch (e) {
        core.warning(`runbox store: saving the snapshot failed, the job goes on without it: ${describe(e)}`);
        return undefined;
    }
}
/** Streamed upload blocks: one in flight per slot, each held in memory until sent. */
const STREAM_BLOCK_BYTES = 8 * 2 ** 20;
const STREAM_CONCURRENCY = 4;
/** The service would not reserve the key (taken, or saved meanwhile): the snapshot is not the problem. */
class KeyRefused extends Error {
    constructor(key, refused) {
        super(`the cache service did not take the snapshot under ${key}: ${refused}`);
        this.name = 'KeyRefused';
    }
}
/**
 * Opens a streamed upload of the entry under `key`, or undefined (after a warning) when it
 * cannot be saved: no service, an unusable key, an entry under key already. The key is reserved
 * only when the first block is ready to go: a save that fails before (reading the store or its
 * DB) reserves nothing, where a reservation never finalized would keep the key taken until the
 * service expires it (v1/GHES answers 409). A key another job reserves in between fails the
 * first block's put. Until finish() succeeds the service holds no entry under key; an upload
 * that fails midway makes the stream's put throw an UploadError (see uploadFailure).
 */
async function beginEntry(key, opts) {
    const c = saveClient(key);
    if (!c)
        return undefined;
    const version = entryVersion(opts.kind, opts.storePaths);
    // A key saved already costs no snapshot: looked up first, where the job may read.
    const svc = serviceFromEnv();
    if (typeof svc !== 'string' && svc.readable) {
        try {
            const hit = await c.find([key], version);
            if (hit?.matchedKey === key) {
                core_warning(`runbox store: the cache service did not take the snapshot under ${key}: it holds an entry under that key already. The job goes on.`);
                return undefined;
            }
        }
        catch (e) {
            core_warning(`runbox store: saving the snapshot failed, the job goes on without it: ${http_describe(e)}`);
            return undefined;
        }
    }
    let reserved;
    const session = () => (reserved ??= c.begin(key, version).then((s) => {
        if ('refused' in s)
            throw new KeyRefused(key, s.refused);
        return s;
    }));
    // v1 writes each block at its offset (ordered); v2 lays staged blocks out at commit.
    const sink = { ordered: c.protocol === 'v1', put: async (data, offset) => (await session()).put(data, offset) };
    const stream = new EntryStream(sink, {
        blockBytes: opts.blockBytes ?? STREAM_BLOCK_BYTES,
        concurrency: STREAM_CONCURRENCY,
        ...(opts.signingKey ? { signingKey: opts.signingKey } : {})
    });
    return {
        stream,
        async finish() {
            try {
                const t = await stream.finish();
                // finish() sent the index and trailer: the session exists.
                const r = await (await session()).commit(t.refs, t.size);
                if ('id' in r)
                    return r.id;
                core_warning(`runbox store: the cache service did not take the snapshot under ${key}: ${r.refused}. The job goes on.`);
            }
            catch (e) {
                core_warning(uploadFailure(e) ?? `runbox store: saving the snapshot failed, the job goes on without it: ${http_describe(e)}`);
            }
            return undefined;
        }
    };
}
/** When a failed snapshot failed because its upload did: the warning to give. */
function uploadFailure(e) {
    if (!(e instanceof UploadError))
        return undefined;
    if (e.cause instanceof KeyRefused)
        return `runbox store: ${e.cause.message}. The job goes on.`;
    return `runbox store: saving the snapshot failed, the job goes on without it: ${http_describe(e.cause)}`;
}

;// CONCATENATED MODULE: ./src/store/daemon.ts
// The store daemon is stopped across extraction and DB merge (it must not register, build into
// or garbage-collect the store while items and rows appear under it), and started again in
// every case: on success, on failure (finally) and on SIGTERM (a registered cleanup, which the
// entry point's signal handler runs). The restart is wrapped so it runs exactly once whichever
// path gets there first.
//
// A SIGKILL (or a crash of node itself) runs none of those. So while the daemon is stopped a
// root-owned marker in /run/runbox says so, with the pid and start time of the restore; post,
// and the next main on the host, start the daemon again when the marker's process is gone.








/** The daemon is down and could not be brought back: the job must fail, not warn. */
class DaemonStartError extends Error {
    constructor(message) {
        super(message);
        this.name = 'DaemonStartError';
    }
}
// User commands get root rights like the systemd calls they replace: stopping a root daemon
// needs them, and a command that uses sudo itself still works as root.
function shell(cmd) {
    return run('sh', ['-c', cmd], { privileged: true });
}
function daemonOps(ctl) {
    switch (ctl.kind) {
        case 'none':
            return undefined;
        case 'commands':
            return {
                describe: `daemon-stop/daemon-start commands`,
                stop: async () => {
                    await shell(ctl.stop);
                    return true;
                },
                start: async () => {
                    await shell(ctl.start);
                }
            };
        case 'systemd':
            return {
                describe: `systemd unit ${ctl.unit}`,
                stop: async () => {
                    let active;
                    try {
                        active = await run('systemctl', ['is-active', '--quiet', ctl.unit], { allowFailure: true });
                    }
                    catch (e) {
                        if (e.code !== 'ENOENT')
                            throw e;
                        core_warning(`runbox store: systemctl not found, so the daemon (${ctl.unit}) is not stopped during the restore. ` +
                            "Set 'daemon-stop' and 'daemon-start' for hosts without systemd, or 'daemon: none'.");
                        return false;
                    }
                    if (active.code !== 0) {
                        info(`${ctl.unit} is not running; nothing to stop or start`);
                        return false;
                    }
                    await run('systemctl', ['stop', ctl.unit], { privileged: true });
                    return true;
                },
                start: async () => {
                    await run('systemctl', ['start', ctl.unit], { privileged: true });
                }
            };
    }
}
/**
 * The marker for this daemon: per unit, or per start command (hashed: the same command from
 * another job finds the same marker; a command is never read back from a file).
 */
function daemonMarkerPath(ctl, dir = RUN_DIR) {
    if (ctl.kind === 'none')
        return undefined;
    const name = ctl.kind === 'systemd' ? ctl.unit : `cmd-${external_node_crypto_default().createHash('sha256').update(ctl.start).digest('hex').slice(0, 16)}`;
    return external_node_path_default().join(dir, `daemon-stopped-${name}`);
}
function markerOf(raw) {
    if (!raw || typeof raw.pid !== 'number' || typeof raw.startTime !== 'string' || typeof raw.since !== 'string')
        return undefined;
    return { pid: raw.pid, startTime: raw.startTime, since: raw.since };
}
/**
 * Post, and main before anything else touches the store: a marker whose restore is gone means
 * the daemon was left stopped by a killed restore. Start it, drop the marker, say so. A marker
 * whose process still runs is a restore in progress (another job's): left alone.
 */
async function restartAbandonedDaemon(ctl, report, dir = RUN_DIR) {
    const file = daemonMarkerPath(ctl, dir);
    const ops = daemonOps(ctl);
    if (!file || !ops)
        return;
    let raw;
    try {
        raw = readRootRecord(file);
    }
    catch (e) {
        // No /run/runbox yet (ENOENT) means no restore ever stopped a daemon here.
        if (e.code === 'ENOENT')
            return;
        throw e;
    }
    if (raw === undefined)
        return;
    const m = markerOf(raw);
    if (m && procStat(m.pid)?.startTime === m.startTime) {
        info(`runbox store: the store daemon (${ops.describe}) is stopped by a restore still running (pid ${m.pid}, since ${m.since}); leaving it to that restore`);
        return;
    }
    const who = m ? `a restore (pid ${m.pid}, since ${m.since}) that was killed` : 'a restore that was killed';
    core_warning(`runbox store: the store daemon (${ops.describe}) was left stopped by ${who}; starting it again`);
    try {
        await ops.start();
    }
    catch (e) {
        throw new DaemonStartError(`the store daemon (${ops.describe}), left stopped by ${who}, could not be started again: ${errorMessage(e)}`);
    }
    await rootFile('remove', file);
    report.add('store daemon', `started again (${ops.describe}): it had been left stopped by ${who}`);
}
/**
 * Runs fn with the daemon stopped. The restart is registered before the stop is attempted (a
 * stop that fails half-way may still have stopped it). A failing restart is an error: a job
 * whose store daemon is down would fail later in a far more confusing way.
 */
async function withDaemonStopped(ctl, fn, markerDir = RUN_DIR) {
    const ops = daemonOps(ctl);
    if (!ops)
        return fn();
    const marker = daemonMarkerPath(ctl, markerDir);
    let restart;
    // Until the stop is attempted there is nothing to start again.
    let needed = false;
    // Removed only once the daemon runs again: a failed start leaves it for post or the next main.
    const dropMarker = () => rootFile('remove', marker).catch((e) => core_warning(`runbox store: could not remove the daemon marker ${marker}: ${errorMessage(e)}`));
    const startOnce = () => (restart ??= needed ? ops.start().then(dropMarker) : dropMarker());
    const unregister = registerCleanup(startOnce);
    let result;
    try {
        // Before the stop, which may stop it half-way and then fail.
        const self = procStat(process.pid);
        await rootFile('write', marker, JSON.stringify({ pid: process.pid, startTime: self?.startTime ?? '', since: new Date().toISOString(), describe: ops.describe }));
        info(`stopping the store daemon (${ops.describe})`);
        needed = true;
        needed = await ops.stop();
        result = await fn();
    }
    catch (e) {
        try {
            await startOnce();
        }
        catch (startError) {
            throw new DaemonStartError(`the store daemon could not be started again: ${errorMessage(startError)} (after: ${errorMessage(e)})`);
        }
        finally {
            unregister();
        }
        throw e;
    }
    if (needed)
        info(`starting the store daemon (${ops.describe})`);
    try {
        await startOnce();
    }
    catch (e) {
        throw new DaemonStartError(`the store daemon could not be started again: ${errorMessage(e)}`);
    }
    finally {
        // Only now: a SIGTERM during the start makes the cleanups await this same start.
        unregister();
    }
    return result;
}

;// CONCATENATED MODULE: ./src/store/daemon-schema.mjs
// The SQLite schema of the store daemons' DB, the one source for runbox (db.ts creates a DB from
// it when a host has none), the test fixtures and scripts/bench.mjs (which build daemon DBs to
// restore into or save from). Plain ESM so that the benchmark script can import it as it is.
//
// Checked against the daemons' own sources, not written from memory:
// - Guix: guix-daemon's LocalStore::openDB (nix/libstore/local-store.cc, as in the guix-mirror/guix
//   and Millak/guix mirrors) prepares the statements in GUIX_DAEMON_STATEMENTS below on every
//   open: on ValidPaths (id, path, hash, registrationTime, deriver, narSize), Refs,
//   DerivationOutputs and FailedPaths. A statement on a missing table fails the prepare and the
//   daemon does not start, so FailedPaths must be here. The daemon runs its own schema.sql only
//   for a "new store" (no `schema` file in the DB dir; "Guix always used version 7 of the
//   schema"). That file is Nix 1.x's schema.sql (store schema version 7), which is what this is
//   for Guix: tables, indices and the DeleteSelfRefs trigger as there. Guix's copy itself was
//   not in the index searched; Nix 1.x's was (and copies of it with FailedPaths).
// - Nix 2.x: src/libstore/schema.sql (NixOS/nix): ValidPaths gains ultimate, sigs and ca;
//   FailedPaths is gone. The content-addressed derivations tables (ca-specific-schema.sql) are
//   created by Nix itself, on demand, when that experimental feature is on.
// `if not exists` throughout, as the daemons write it: two restores creating the DB at once, or a
// daemon opening it, agree on one schema.

const NIX_EXTRA_COLUMNS = `,
    ultimate         integer,
    sigs             text,
    ca               text`;

/** @param {'guix' | 'nix'} kind */
function daemonSchema(kind) {
  return `
create table if not exists ValidPaths (
    id               integer primary key autoincrement not null,
    path             text unique not null,
    hash             text not null,
    registrationTime integer not null,
    deriver          text,
    narSize          integer${kind === 'nix' ? NIX_EXTRA_COLUMNS : ''}
);
create table if not exists Refs (
    referrer  integer not null,
    reference integer not null,
    primary key (referrer, reference),
    foreign key (referrer) references ValidPaths(id) on delete cascade,
    foreign key (reference) references ValidPaths(id) on delete restrict
);
create index if not exists IndexReferrer on Refs(referrer);
create index if not exists IndexReference on Refs(reference);
create trigger if not exists DeleteSelfRefs before delete on ValidPaths
  begin
    delete from Refs where referrer = old.id and reference = old.id;
  end;
create table if not exists DerivationOutputs (
    drv  integer not null,
    id   text not null,
    path text not null,
    primary key (drv, id),
    foreign key (drv) references ValidPaths(id) on delete cascade
);
create index if not exists IndexDerivationOutputs on DerivationOutputs(path);
${
  kind === 'guix'
    ? `create table if not exists FailedPaths (
    path text primary key not null,
    time integer not null
);
`
    : ''
}`;
}

/**
 * The statements guix-daemon prepares on every open of its DB (local-store.cc, LocalStore::openDB,
 * as cited above): a DB it is to open must compile each of them.
 */
const GUIX_DAEMON_STATEMENTS = (/* unused pure expression or super */ null && ([
  'insert into ValidPaths (path, hash, registrationTime, deriver, narSize) values (?, ?, ?, ?, ?);',
  'update ValidPaths set narSize = ?, hash = ? where path = ?;',
  'insert or replace into Refs (referrer, reference) values (?, ?);',
  'select id, hash, registrationTime, deriver, narSize from ValidPaths where path = ?;',
  'select path from Refs join ValidPaths on reference = id where referrer = ?;',
  'select path from Refs join ValidPaths on referrer = id where reference = (select id from ValidPaths where path = ?);',
  'delete from ValidPaths where path = ?;',
  'insert or ignore into FailedPaths (path, time) values (?, ?);',
  'select time from FailedPaths where path = ?;',
  'select path from FailedPaths;',
  "delete from FailedPaths where ?1 = '*' or path = ?1 or path in (select d.path from DerivationOutputs d join ValidPaths v on d.drv = v.id where v.path = ?1);",
  'insert or replace into DerivationOutputs (drv, id, path) values (?, ?, ?);',
  'select v.id, v.path from DerivationOutputs d join ValidPaths v on d.drv = v.id where d.path = ?;',
  'select id, path from DerivationOutputs where drv = ?;',
  'select path from ValidPaths where path >= ? limit 1;',
  'select path from ValidPaths'
]));

;// CONCATENATED MODULE: ./src/store/db.ts
// After extraction: make the daemon's DB know the restored items, from the snapshot's checked
// registrations (registrations.ts), never from a DB file. A path is registered only when this
// restore added its top-level item and every path it references is valid already or registered
// in the same transaction: an item on disk without a usable registration stays unregistered
// (the daemon treats it as an invalid leftover), and a registered path never points at a missing
// reference. The SQL is built by runbox from validated values only and runs in one transaction
// on the live DB. When there is no live DB yet it is created the daemon's way: Nix's own
// `nix-store --register-validity` (which hashes the items itself), or daemon-schema.mjs for Guix
// (and for Nix when nix-store is not installed yet). Runs while the daemon is stopped.








class RegistrationError extends Error {
    committed;
    counts;
    constructor(message, committed, 
    /** What the DB counted after the COMMIT, when the run got that far. */
    counts = {}) {
        super(message);
        this.committed = committed;
        this.counts = counts;
        this.name = 'RegistrationError';
    }
}
/** Printed by insertRows's script once its COMMIT has returned; `.print` cannot fail the way a statement can. */
const COMMITTED_MARKER = 'runbox:committed';
const DB_FILE = 'db.sqlite';
/** The daemons' own schema, checked against their sources (see daemon-schema.mjs). */
const SCHEMA = (kind) => daemonSchema(kind);
/**
 * The paths to register: added by this restore, not yet valid, and every reference valid or
 * itself accepted (dropped until nothing changes, so a chain with a missing end goes whole), and
 * no path in or above a reference cycle (self-references aside).
 */
function acceptedPaths(registrations, liveValid, added) {
    const accepted = new Set();
    for (const p of registrations.keys())
        if (!liveValid.has(p) && added.has(p))
            accepted.add(p);
    for (let changed = true; changed;) {
        changed = false;
        for (const p of accepted)
            if ((registrations.get(p) ?? []).some((r) => r !== p && !liveValid.has(r) && !accepted.has(r))) {
                accepted.delete(p);
                changed = true;
            }
    }
    // References between distinct paths must form no cycle: the daemons' own registerValidPaths
    // topo-sorts and refuses one ("cycle detected"), and their GC could never delete a path of it
    // (each is a live referrer of the next). A path in a cycle, or referencing one, is dropped:
    // only what a topological order reaches stays.
    // Kahn's algorithm, linear in the references (a snapshot may hold millions).
    const unmet = new Map();
    const referrers = new Map();
    const ready = [];
    for (const p of accepted) {
        let n = 0;
        for (const r of new Set(registrations.get(p) ?? []))
            if (r !== p && accepted.has(r)) {
                n++;
                const list = referrers.get(r);
                if (list)
                    list.push(p);
                else
                    referrers.set(r, [p]);
            }
        unmet.set(p, n);
        if (n === 0)
            ready.push(p);
    }
    const ordered = new Set();
    for (let p = ready.pop(); p !== undefined; p = ready.pop()) {
        ordered.add(p);
        for (const q of referrers.get(p) ?? []) {
            const n = (unmet.get(q) ?? 0) - 1;
            unmet.set(q, n);
            if (n === 0)
                ready.push(q);
        }
    }
    return ordered;
}
function lit(s) {
    if (s === null || s === undefined)
        return 'NULL';
    if (typeof s === 'number') {
        if (!Number.isSafeInteger(s))
            throw new Error(`not an integer: ${s}`);
        return String(s);
    }
    return `'${s.replace(/'/g, "''")}'`;
}
function values(rows) {
    const out = [];
    for (let i = 0; i < rows.length; i += 500)
        out.push(rows.slice(i, i + 500).join(',\n'));
    return out;
}
async function db_exists(p) {
    // The DB dir may be unreadable to the runner user.
    return (await run('test', ['-e', p], { privileged: true, allowFailure: true })).code === 0;
}
/**
 * `test -e` of each path, one after another in the order given, in one process (a process start
 * costs a fork of this process, issue 13): the script is fixed, the paths are its arguments.
 */
async function existing(paths) {
    const r = await run('sh', ['-c', 'for f do if test -e "$f"; then printf 1; else printf 0; fi; done', 'sh', ...paths], { privileged: true });
    if (!new RegExp(`^[01]{${paths.length}}$`).test(r.stdout))
        throw new Error(`checking which of ${paths.join(', ')} exist printed '${escapedText(r.stdout, 80)}'`);
    return [...r.stdout].map((c) => c === '1');
}
/** Creates `<dbDir>/db.sqlite` from the embedded schema, as root, race-free: built under a temp name, then linked into place. */
async function createFromSchema(kind, dir, live) {
    const tmp = external_node_path_default().join(dir, `.${DB_FILE}.runbox-new-${process.pid}-${external_node_crypto_default().randomBytes(6).toString('hex')}`);
    const script = [
        'set -eu',
        'dir=$1 db=$2 tmp=$3',
        // Never follow a planted symlink for the DB dir.
        'if [ -L "$dir" ] || { [ -e "$dir" ] && [ ! -d "$dir" ]; }; then echo "$dir is not a directory" >&2; exit 3; fi',
        '[ -d "$dir" ] || install -d -m 0755 -o 0 -g 0 "$dir"',
        'umask 022',
        'sqlite3 -safe -bail "$tmp"',
        'chmod 0644 "$tmp"',
        // ln never replaces: a DB another restore (or the daemon) created meanwhile stays, and is the one used.
        'if ! ln "$tmp" "$db" 2>/dev/null && [ ! -e "$db" ]; then rm -f "$tmp"; echo "could not create $db" >&2; exit 4; fi',
        'rm -f "$tmp"'
    ].join('\n');
    await run('sh', ['-c', script, 'sh', dir, live, tmp], { privileged: true, input: SCHEMA(kind) });
}
async function hasNixStore() {
    return (await run('sh', ['-c', 'command -v nix-store >/dev/null'], { privileged: true, allowFailure: true })).code === 0;
}
/** nix-store's own registration (it computes each item's hash and size, and reads .drv outputs itself). */
async function registerWithNix(root, regs) {
    const store = root === '/' ? [] : /^\/[A-Za-z0-9/._-]+$/.test(root) ? ['--store', `local?root=${root}`] : undefined;
    if (!store)
        throw new Error(`the store root ${root} cannot be passed to nix-store`);
    const input = regs.map((r) => [r.path, r.deriver ?? '', String(r.references.length), ...r.references].join('\n')).join('\n') + '\n';
    await run('nix-store', [...store, '--register-validity'], { privileged: true, input });
}
/** The paths directly in `storeDir` that the live DB `live` holds as valid (read-only, while the daemon may run). */
async function validPaths(live, storeDir, scratch) {
    const storePrefix = `${storeDir}/`;
    return new Set((await queryLive(live, `SELECT path FROM ValidPaths WHERE substr(path, 1, ${storePrefix.length}) = ${lit(storePrefix)}`, scratch)).map((r) => r.path));
}
/**
 * How a reader opens the live DB `live` (restore's selection, gc's size) so that it leaves the DB
 * dir as it was. Read-only, yet SQLite makes the -wal and -shm files of a WAL DB on open when they
 * are missing (no daemon has it open), root-owned, since readers run as root: a restore that then
 * stops short, or a post that only measured, must not leave them. Without them there is nothing
 * in a WAL to miss, so the DB file alone is read as immutable, which creates nothing; with them
 * (a daemon has it open) a plain read-only open shares them.
 */
async function readTarget(live) {
    const walOpen = (await existing([`${live}-wal`, `${live}-shm`])).some((e) => e);
    return walOpen ? live : `file:${live.replace(/[%?#]/g, (c) => `%${c.charCodeAt(0).toString(16)}`)}?immutable=1`;
}
/**
 * What the live DB of `<root><dbDir>` holds as valid in `storeDir`: an empty set when there is no
 * DB yet. Read to decide which frames a partial restore needs; a failure is the caller's to
 * treat as "unknown" (then everything is fetched).
 */
async function liveValidPaths(root, dbDir, storeDir, scratchDir) {
    return (await liveValidPathsIfAny(root, dbDir, storeDir, scratchDir)) ?? new Set();
}
/**
 * liveValidPaths, but undefined when there is no live DB: a store without one registers
 * nothing, which is not the same as a DB that does not register an item. `scratchName`: a file
 * name new in `scratchDir` (each read writes its own).
 */
async function liveValidPathsIfAny(root, dbDir, storeDir, scratchDir, scratchName = 'live-valid-select.json') {
    const live = external_node_path_default().join(root, dbDir, DB_FILE);
    if (!(await db_exists(live)))
        return undefined;
    return validPaths(await readTarget(live), storeDir, external_node_path_default().join(scratchDir, scratchName));
}
/**
 * A small answer (one line, buffered) from the live DB of `<root><dbDir>`, read as root the way
 * liveValidPaths reads it; undefined when there is no DB. `sql` must not hold outside data.
 */
async function queryLiveDb(root, dbDir, sql) {
    const live = external_node_path_default().join(root, dbDir, DB_FILE);
    if (!(await db_exists(live)))
        return undefined;
    const r = await run('sqlite3', ['-safe', '-bail', '-readonly', '-cmd', '.timeout 60000', await readTarget(live), sql], { privileged: true });
    return r.stdout.trim();
}
async function registerPaths(o) {
    const dir = external_node_path_default().join(o.root, o.dbDir);
    const live = external_node_path_default().join(dir, DB_FILE);
    const regs = new Map();
    for (const r of o.registrations)
        regs.set(r.path, r);
    let liveExists = await db_exists(live);
    if (!liveExists) {
        const suffixes = ['-wal', '-shm', '-journal'];
        // Looked at again, last: a DB created meanwhile (with its WAL) by a concurrent restore is a live DB.
        const found = await existing([...suffixes.map((s) => live + s), live]);
        const journals = suffixes.filter((_, i) => found[i]).map((s) => DB_FILE + s);
        liveExists = found[suffixes.length];
        if (!liveExists && journals.length > 0) {
            core_warning(`runbox store: ${dir} holds ${journals.join(', ')} but no ${DB_FILE}; no DB is created next to them, so the restored items stay unregistered (remove them once no daemon runs)`);
            return { mode: 'refused', registered: 0, alreadyValid: 0, skipped: regs.size };
        }
    }
    const liveValid = liveExists ? await validPaths(live, o.storeDir, external_node_path_default().join(o.scratchDir, 'live-valid.json')) : new Set();
    const accepted = acceptedPaths(new Map([...regs].map(([p, r]) => [p, r.references])), liveValid, o.added);
    const alreadyValid = [...regs.keys()].filter((p) => liveValid.has(p)).length;
    const result = { registered: accepted.size, alreadyValid, skipped: regs.size - accepted.size - alreadyValid };
    if (accepted.size === 0)
        return { mode: 'inserted', ...result };
    const rows = [...accepted].map((p) => regs.get(p));
    let mode = 'inserted';
    // nix-store commits the paths as valid itself: runbox's insert after it only adds what Nix
    // leaves out (signatures, content addresses), so its failure leaves them registered.
    let nixRegistered = false;
    if (!liveExists) {
        mode = 'created';
        if (o.kind === 'nix' && (await hasNixStore())) {
            try {
                await registerWithNix(o.root, rows);
            }
            catch (e) {
                // Nix registers the paths in one SQLite transaction, rolled back on its errors; killed, it may have committed.
                if (e instanceof CommandError && e.result.signal)
                    throw new RegistrationError(e.message, 'unknown');
                throw e;
            }
            nixRegistered = true;
        }
        else
            await createFromSchema(o.kind, dir, live);
    }
    try {
        await insertRows(live, rows, o.scratchDir);
    }
    catch (e) {
        if (!nixRegistered && !(e instanceof RegistrationError && e.committed === 'yes'))
            throw e;
        const counts = e instanceof RegistrationError ? e.counts : {};
        const error = nixRegistered ? `nix-store registered the paths, then runbox's insert of their signatures failed: ${errorMessage(e)}` : errorMessage(e);
        return {
            mode,
            ...result,
            afterCommit: { error, ...(counts.paths !== undefined ? { paths: counts.paths } : {}), refs: { ...(counts.refs !== undefined ? { held: counts.refs } : {}), sent: wantRefs(rows) } }
        };
    }
    return { mode, ...result };
}
function wantRefs(rows) {
    return rows.reduce((n, x) => n + x.references.length, 0);
}
/** One transaction: the rows are idempotent (OR IGNORE by path), so a second restore of the same items is a no-op. */
async function insertRows(live, rows, scratchDir) {
    const cols = await queryLive(live, `SELECT name, "notnull", dflt_value FROM pragma_table_info('ValidPaths')`, external_node_path_default().join(scratchDir, 'live-columns.json'));
    const known = new Set(['id', 'path', 'hash', 'registrationTime', 'deriver', 'narSize', 'ultimate', 'sigs', 'ca']);
    const unknown = cols.filter((c) => !known.has(c.name) && c.notnull && c.dflt_value === null);
    if (cols.length === 0 || unknown.length > 0)
        throw new Error(`the live DB's ValidPaths has columns runbox cannot fill (${unknown.map((c) => c.name).join(', ') || 'none at all'})`);
    const nix = cols.some((c) => c.name === 'sigs') && cols.some((c) => c.name === 'ca');
    const base = ['path', 'hash', 'registrationTime', 'deriver', 'narSize'];
    const insertCols = (nix ? [...base, 'sigs', 'ca'] : base).map((c) => `"${c}"`).join(', ');
    const reg = values(rows.map((r) => `(${[lit(r.path), lit(r.hash), lit(r.registrationTime), lit(r.deriver), lit(r.narSize), lit(r.sigs), lit(r.ca)].join(', ')})`));
    const refs = values(rows.flatMap((r) => r.references.map((x) => `(${lit(r.path)}, ${lit(x)})`)));
    const outs = values(rows.flatMap((r) => r.outputs.map((d) => `(${lit(r.path)}, ${lit(d.id)}, ${lit(d.path)})`)));
    const script = [
        '.timeout 60000',
        'BEGIN IMMEDIATE;',
        // Temp tables live in the connection's temp schema: the live DB's schema never changes.
        'CREATE TEMP TABLE reg(path TEXT PRIMARY KEY, hash TEXT NOT NULL, registrationTime INTEGER NOT NULL, deriver TEXT, narSize INTEGER, sigs TEXT, ca TEXT);',
        ...reg.map((v) => `INSERT INTO temp.reg VALUES\n${v};`),
        'CREATE TEMP TABLE ref(referrer TEXT NOT NULL, reference TEXT NOT NULL, PRIMARY KEY (referrer, reference));',
        ...refs.map((v) => `INSERT INTO temp.ref VALUES\n${v};`),
        'CREATE TEMP TABLE out(drv TEXT NOT NULL, id TEXT NOT NULL, path TEXT NOT NULL, PRIMARY KEY (drv, id));',
        ...outs.map((v) => `INSERT INTO temp.out VALUES\n${v};`),
        `INSERT OR IGNORE INTO main.ValidPaths (${insertCols}) SELECT ${insertCols} FROM temp.reg;`,
        // A path nix-store registered just now has no signatures or content address yet.
        nix
            ? `UPDATE main.ValidPaths SET sigs = coalesce(sigs, (SELECT r.sigs FROM temp.reg r WHERE r.path = ValidPaths.path)),
           ca = coalesce(ca, (SELECT r.ca FROM temp.reg r WHERE r.path = ValidPaths.path))
         WHERE path IN (SELECT path FROM temp.reg);`
            : '',
        `INSERT OR IGNORE INTO main.Refs (referrer, reference)
       SELECT a.id, b.id FROM temp.ref r JOIN main.ValidPaths a ON a.path = r.referrer JOIN main.ValidPaths b ON b.path = r.reference;`,
        `INSERT OR IGNORE INTO main.DerivationOutputs (drv, id, path) SELECT v.id, o.id, o.path FROM temp.out o JOIN main.ValidPaths v ON v.path = o.drv;`,
        // Every reference must be valid when this commits (a CHECK failure aborts: -bail rolls back).
        'CREATE TEMP TABLE guard(ok INTEGER NOT NULL CHECK (ok = 1));',
        'INSERT INTO temp.guard SELECT NOT EXISTS (SELECT 1 FROM temp.ref r WHERE NOT EXISTS (SELECT 1 FROM main.ValidPaths v WHERE v.path = r.reference));',
        'COMMIT;',
        // Only reached once the COMMIT returned (-bail stops at the first error): from here on a
        // failure leaves the rows committed, and the caller must not take the items out.
        `.print ${COMMITTED_MARKER}`,
        // Counted again after the commit: what the DB now holds, not what was sent.
        'SELECT count(*) FROM main.ValidPaths WHERE path IN (SELECT path FROM temp.reg);',
        `SELECT count(*) FROM main.Refs x JOIN main.ValidPaths a ON a.id = x.referrer JOIN main.ValidPaths b ON b.id = x.reference
       JOIN temp.ref r ON r.referrer = a.path AND r.reference = b.path;`,
        ''
    ].join('\n');
    const args = ['-safe', '-bail', live];
    const r = await run('sqlite3', args, { privileged: true, input: script, allowFailure: true });
    const lines = r.stdout.split('\n');
    const marker = lines.indexOf(COMMITTED_MARKER);
    // Exit 0 under -bail: every statement ran, the COMMIT too.
    const committed = marker >= 0 || r.code === 0 ? 'yes' : r.signal ? 'unknown' : 'no';
    const [paths, refCount] = (marker >= 0 ? lines.slice(marker + 1) : [])
        .filter((l) => /^\d+$/.test(l))
        .slice(0, 2)
        .map(Number);
    const counts = { ...(paths !== undefined ? { paths } : {}), ...(refCount !== undefined ? { refs: refCount } : {}) };
    if (r.code !== 0)
        throw new RegistrationError(new CommandError(quote(['sqlite3', ...args]), r).message, committed, counts);
    const want = wantRefs(rows);
    if (paths !== rows.length || refCount !== want)
        throw new RegistrationError(`the DB registers ${paths ?? 'an unknown number'} of ${rows.length} restored paths and ${refCount ?? 'an unknown number'} of their ${want} references after the commit`, 'yes', counts);
}

;// CONCATENATED MODULE: ./node_modules/@actions/glob/lib/internal-glob-options-helper.js

/**
 * Returns a copy with defaults filled in.
 */
function getOptions(copy) {
    const result = {
        followSymbolicLinks: true,
        implicitDescendants: true,
        matchDirectories: true,
        omitBrokenSymbolicLinks: true,
        excludeHiddenFiles: false
    };
    if (copy) {
        if (typeof copy.followSymbolicLinks === 'boolean') {
            result.followSymbolicLinks = copy.followSymbolicLinks;
            core_debug(`followSymbolicLinks '${result.followSymbolicLinks}'`);
        }
        if (typeof copy.implicitDescendants === 'boolean') {
            result.implicitDescendants = copy.implicitDescendants;
            core_debug(`implicitDescendants '${result.implicitDescendants}'`);
        }
        if (typeof copy.matchDirectories === 'boolean') {
            result.matchDirectories = copy.matchDirectories;
            core_debug(`matchDirectories '${result.matchDirectories}'`);
        }
        if (typeof copy.omitBrokenSymbolicLinks === 'boolean') {
            result.omitBrokenSymbolicLinks = copy.omitBrokenSymbolicLinks;
            core_debug(`omitBrokenSymbolicLinks '${result.omitBrokenSymbolicLinks}'`);
        }
        if (typeof copy.excludeHiddenFiles === 'boolean') {
            result.excludeHiddenFiles = copy.excludeHiddenFiles;
            core_debug(`excludeHiddenFiles '${result.excludeHiddenFiles}'`);
        }
    }
    return result;
}
//# sourceMappingURL=internal-glob-options-helper.js.map
;// CONCATENATED MODULE: ./node_modules/@actions/glob/lib/internal-path-helper.js


const internal_path_helper_IS_WINDOWS = process.platform === 'win32';
/**
 * Similar to path.dirname except normalizes the path separators and slightly better handling for Windows UNC paths.
 *
 * For example, on Linux/macOS:
 * - `/               => /`
 * - `/hello          => /`
 *
 * For example, on Windows:
 * - `C:\             => C:\`
 * - `C:\hello        => C:\`
 * - `C:              => C:`
 * - `C:hello         => C:`
 * - `\               => \`
 * - `\hello          => \`
 * - `\\hello         => \\hello`
 * - `\\hello\world   => \\hello\world`
 */
function dirname(p) {
    // Normalize slashes and trim unnecessary trailing slash
    p = safeTrimTrailingSeparator(p);
    // Windows UNC root, e.g. \\hello or \\hello\world
    if (internal_path_helper_IS_WINDOWS && /^\\\\[^\\]+(\\[^\\]+)?$/.test(p)) {
        return p;
    }
    // Get dirname
    let result = external_path_namespaceObject.dirname(p);
    // Trim trailing slash for Windows UNC root, e.g. \\hello\world\
    if (internal_path_helper_IS_WINDOWS && /^\\\\[^\\]+\\[^\\]+\\$/.test(result)) {
        result = safeTrimTrailingSeparator(result);
    }
    return result;
}
/**
 * Roots the path if not already rooted. On Windows, relative roots like `\`
 * or `C:` are expanded based on the current working directory.
 */
function ensureAbsoluteRoot(root, itemPath) {
    external_assert_(root, `ensureAbsoluteRoot parameter 'root' must not be empty`);
    external_assert_(itemPath, `ensureAbsoluteRoot parameter 'itemPath' must not be empty`);
    // Already rooted
    if (hasAbsoluteRoot(itemPath)) {
        return itemPath;
    }
    // Windows
    if (internal_path_helper_IS_WINDOWS) {
        // Check for itemPath like C: or C:foo
        if (itemPath.match(/^[A-Z]:[^\\/]|^[A-Z]:$/i)) {
            let cwd = process.cwd();
            external_assert_(cwd.match(/^[A-Z]:\\/i), `Expected current directory to start with an absolute drive root. Actual '${cwd}'`);
            // Drive letter matches cwd? Expand to cwd
            if (itemPath[0].toUpperCase() === cwd[0].toUpperCase()) {
                // Drive only, e.g. C:
                if (itemPath.length === 2) {
                    // Preserve specified drive letter case (upper or lower)
                    return `${itemPath[0]}:\\${cwd.substr(3)}`;
                }
                // Drive + path, e.g. C:foo
                else {
                    if (!cwd.endsWith('\\')) {
                        cwd += '\\';
                    }
                    // Preserve specified drive letter case (upper or lower)
                    return `${itemPath[0]}:\\${cwd.substr(3)}${itemPath.substr(2)}`;
                }
            }
            // Different drive
            else {
                return `${itemPath[0]}:\\${itemPath.substr(2)}`;
            }
        }
        // Check for itemPath like \ or \foo
        else if (internal_path_helper_normalizeSeparators(itemPath).match(/^\\$|^\\[^\\]/)) {
            const cwd = process.cwd();
            external_assert_(cwd.match(/^[A-Z]:\\/i), `Expected current directory to start with an absolute drive root. Actual '${cwd}'`);
            return `${cwd[0]}:\\${itemPath.substr(1)}`;
        }
    }
    external_assert_(hasAbsoluteRoot(root), `ensureAbsoluteRoot parameter 'root' must have an absolute root`);
    // Otherwise ensure root ends with a separator
    if (root.endsWith('/') || (internal_path_helper_IS_WINDOWS && root.endsWith('\\'))) {
        // Intentionally empty
    }
    else {
        // Append separator
        root += external_path_namespaceObject.sep;
    }
    return root + itemPath;
}
/**
 * On Linux/macOS, true if path starts with `/`. On Windows, true for paths like:
 * `\\hello\share` and `C:\hello` (and using alternate separator).
 */
function hasAbsoluteRoot(itemPath) {
    external_assert_(itemPath, `hasAbsoluteRoot parameter 'itemPath' must not be empty`);
    // Normalize separators
    itemPath = internal_path_helper_normalizeSeparators(itemPath);
    // Windows
    if (internal_path_helper_IS_WINDOWS) {
        // E.g. \\hello\share or C:\hello
        return itemPath.startsWith('\\\\') || /^[A-Z]:\\/i.test(itemPath);
    }
    // E.g. /hello
    return itemPath.startsWith('/');
}
/**
 * On Linux/macOS, true if path starts with `/`. On Windows, true for paths like:
 * `\`, `\hello`, `\\hello\share`, `C:`, and `C:\hello` (and using alternate separator).
 */
function hasRoot(itemPath) {
    external_assert_(itemPath, `isRooted parameter 'itemPath' must not be empty`);
    // Normalize separators
    itemPath = internal_path_helper_normalizeSeparators(itemPath);
    // Windows
    if (internal_path_helper_IS_WINDOWS) {
        // E.g. \ or \hello or \\hello
        // E.g. C: or C:\hello
        return itemPath.startsWith('\\') || /^[A-Z]:/i.test(itemPath);
    }
    // E.g. /hello
    return itemPath.startsWith('/');
}
/**
 * Removes redundant slashes and converts `/` to `\` on Windows
 */
function internal_path_helper_normalizeSeparators(p) {
    p = p || '';
    // Windows
    if (internal_path_helper_IS_WINDOWS) {
        // Convert slashes on Windows
        p = p.replace(/\//g, '\\');
        // Remove redundant slashes
        const isUnc = /^\\\\+[^\\]/.test(p); // e.g. \\hello
        return (isUnc ? '\\' : '') + p.replace(/\\\\+/g, '\\'); // preserve leading \\ for UNC
    }
    // Remove redundant slashes
    return p.replace(/\/\/+/g, '/');
}
/**
 * Normalizes the path separators and trims the trailing separator (when safe).
 * For example, `/foo/ => /foo` but `/ => /`
 */
function safeTrimTrailingSeparator(p) {
    // Short-circuit if empty
    if (!p) {
        return '';
    }
    // Normalize separators
    p = internal_path_helper_normalizeSeparators(p);
    // No trailing slash
    if (!p.endsWith(external_path_namespaceObject.sep)) {
        return p;
    }
    // Check '/' on Linux/macOS and '\' on Windows
    if (p === external_path_namespaceObject.sep) {
        return p;
    }
    // On Windows check if drive root. E.g. C:\
    if (internal_path_helper_IS_WINDOWS && /^[A-Z]:\\$/i.test(p)) {
        return p;
    }
    // Otherwise trim trailing slash
    return p.substr(0, p.length - 1);
}
//# sourceMappingURL=internal-path-helper.js.map
;// CONCATENATED MODULE: ./node_modules/@actions/glob/lib/internal-match-kind.js
/**
 * Indicates whether a pattern matches a path
 */
var MatchKind;
(function (MatchKind) {
    /** Not matched */
    MatchKind[MatchKind["None"] = 0] = "None";
    /** Matched if the path is a directory */
    MatchKind[MatchKind["Directory"] = 1] = "Directory";
    /** Matched if the path is a regular file */
    MatchKind[MatchKind["File"] = 2] = "File";
    /** Matched */
    MatchKind[MatchKind["All"] = 3] = "All";
})(MatchKind || (MatchKind = {}));
//# sourceMappingURL=internal-match-kind.js.map
;// CONCATENATED MODULE: ./node_modules/@actions/glob/lib/internal-pattern-helper.js


const internal_pattern_helper_IS_WINDOWS = process.platform === 'win32';
/**
 * Given an array of patterns, returns an array of paths to search.
 * Duplicates and paths under other included paths are filtered out.
 */
function getSearchPaths(patterns) {
    // Ignore negate patterns
    patterns = patterns.filter(x => !x.negate);
    // Create a map of all search paths
    const searchPathMap = {};
    for (const pattern of patterns) {
        const key = internal_pattern_helper_IS_WINDOWS
            ? pattern.searchPath.toUpperCase()
            : pattern.searchPath;
        searchPathMap[key] = 'candidate';
    }
    const result = [];
    for (const pattern of patterns) {
        // Check if already included
        const key = internal_pattern_helper_IS_WINDOWS
            ? pattern.searchPath.toUpperCase()
            : pattern.searchPath;
        if (searchPathMap[key] === 'included') {
            continue;
        }
        // Check for an ancestor search path
        let foundAncestor = false;
        let tempKey = key;
        let parent = dirname(tempKey);
        while (parent !== tempKey) {
            if (searchPathMap[parent]) {
                foundAncestor = true;
                break;
            }
            tempKey = parent;
            parent = dirname(tempKey);
        }
        // Include the search pattern in the result
        if (!foundAncestor) {
            result.push(pattern.searchPath);
            searchPathMap[key] = 'included';
        }
    }
    return result;
}
/**
 * Matches the patterns against the path
 */
function internal_pattern_helper_match(patterns, itemPath) {
    let result = MatchKind.None;
    for (const pattern of patterns) {
        if (pattern.negate) {
            result &= ~pattern.match(itemPath);
        }
        else {
            result |= pattern.match(itemPath);
        }
    }
    return result;
}
/**
 * Checks whether to descend further into the directory
 */
function internal_pattern_helper_partialMatch(patterns, itemPath) {
    return patterns.some(x => !x.negate && x.partialMatch(itemPath));
}
//# sourceMappingURL=internal-pattern-helper.js.map
;// CONCATENATED MODULE: ./node_modules/balanced-match/dist/esm/index.js
const balanced = (a, b, str) => {
    const ma = a instanceof RegExp ? maybeMatch(a, str) : a;
    const mb = b instanceof RegExp ? maybeMatch(b, str) : b;
    const r = ma !== null && mb != null && range(ma, mb, str);
    return (r && {
        start: r[0],
        end: r[1],
        pre: str.slice(0, r[0]),
        body: str.slice(r[0] + ma.length, r[1]),
        post: str.slice(r[1] + mb.length),
    });
};
const maybeMatch = (reg, str) => {
    const m = str.match(reg);
    return m ? m[0] : null;
};
const range = (a, b, str) => {
    let begs, beg, left, right = undefined, result;
    let ai = str.indexOf(a);
    let bi = str.indexOf(b, ai + 1);
    let i = ai;
    if (ai >= 0 && bi > 0) {
        if (a === b) {
            return [ai, bi];
        }
        begs = [];
        left = str.length;
        while (i >= 0 && !result) {
            if (i === ai) {
                begs.push(i);
                ai = str.indexOf(a, i + 1);
            }
            else if (begs.length === 1) {
                const r = begs.pop();
                if (r !== undefined)
                    result = [r, bi];
            }
            else {
                beg = begs.pop();
                if (beg !== undefined && beg < left) {
                    left = beg;
                    right = bi;
                }
                bi = str.indexOf(b, i + 1);
            }
            i = ai < bi && ai >= 0 ? ai : bi;
        }
        if (begs.length && right !== undefined) {
            result = [left, right];
        }
    }
    return result;
};
//# sourceMappingURL=index.js.map
;// CONCATENATED MODULE: ./node_modules/brace-expansion/dist/esm/index.js

const escSlash = '\0SLASH' + Math.random().toFixed(16) + '\0';
const escOpen = '\0OPEN' + Math.random().toFixed(16) + '\0';
const escClose = '\0CLOSE' + Math.random().toFixed(16) + '\0';
const escComma = '\0COMMA' + Math.random().toFixed(16) + '\0';
const escPeriod = '\0PERIOD' + Math.random().toFixed(16) + '\0';
const escSlashPattern = new RegExp(escSlash, 'g');
const escOpenPattern = new RegExp(escOpen, 'g');
const escClosePattern = new RegExp(escClose, 'g');
const escCommaPattern = new RegExp(escComma, 'g');
const escPeriodPattern = new RegExp(escPeriod, 'g');
const slashPattern = /\\\\/g;
const openPattern = /\\{/g;
const closePattern = /\\}/g;
const commaPattern = /\\,/g;
const periodPattern = /\\\./g;
const EXPANSION_MAX = 100_000;
// `EXPANSION_MAX` caps the *number* of expansions, but not their length. An
// input like `'{a,b}'.repeat(1500)` stays under that count - its output is
// truncated to 100k results - while making every result ~1500 characters
// long. The result set, and the intermediate arrays built while combining
// brace sets, then grow large enough to exhaust memory and crash the process
// (CVE-2026-14257). `EXPANSION_MAX_LENGTH` bounds the total number of
// characters the accumulator may hold at any point, so memory stays flat no
// matter how many brace groups are chained. The limit sits well above any
// realistic expansion (100k results hitting `EXPANSION_MAX` measure ~1M
// characters) so legitimate input is unaffected.
const EXPANSION_MAX_LENGTH = 4_000_000;
// `expand_` recurses once per level of brace *nesting* - both when expanding a
// set's comma members and when re-wrapping a set whose body is a single part.
// The CVE-2026-14257 fix made the *tail* iterative (recursion on `m.post`, one
// level per chained group), which left nesting depth unbounded: about 3,100
// levels of `{{{...a,b...}}}` - only ~6KB of input - exhausted the native stack
// and crashed the process. `EXPANSION_MAX_DEPTH` bounds how deep the parser
// will follow nesting. It sits far above any realistic pattern and well below
// the depth at which the stack runs out.
const EXPANSION_MAX_DEPTH = 1_000;
// Bash keeps a quirk where a brace group followed by a comma set still expands
// (`{a},b}`). The parser implements it by rewriting the string and restarting
// the scan, absorbing one `}` per pass. `n` trailing braces therefore cost `n`
// full passes over a string that itself grows by one `escClose` sentinel each
// time - quadratic in `n`, with a ~26x constant from the sentinel's length.
// 128KB of `'{a}' + '}'.repeat(n) + ',z}'` blocked the event loop for 27
// seconds to produce two results. `EXPANSION_MAX_REWRITES` bounds how many
// times the scan may restart. Real `{a},b}` input needs a handful.
const EXPANSION_MAX_REWRITES = 1_000;
// `EXPANSION_MAX_STEPS` bounds the work one `expand` call does, which `max`,
// `maxLength` and `maxDepth` don't: nested sets are rescanned at every level
// and chained groups each rebuild up to `max` results, so 2KB of input could
// block the event loop for over 30 seconds. Each character scanned, result
// built and sequence value generated is a step, and each `expand_` call costs
// `CALL_STEPS` more. Past the budget, the set being expanded and everything
// after it stay literal. A glob needs a few hundred steps, and nesting all the
// way to `EXPANSION_MAX_DEPTH` about 4M.
const EXPANSION_MAX_STEPS = 20_000_000;
// What one `expand_` call costs on top of what it scans and builds. Setting
// one up takes about as long as scanning 16 characters, and a set whose
// results are wrapped to be expanded again makes one call per result, each
// scanning and building next to nothing: 64KB of
// `('{{' + ','.repeat(316) + '}{' + ','.repeat(316) + '}}').repeat(n)` made
// 4M such calls, which spent the budget three times as slowly as anything
// else.
const CALL_STEPS = 16;
function numeric(str) {
    return !isNaN(str) ? parseInt(str, 10) : str.charCodeAt(0);
}
function escapeBraces(str) {
    return str
        .replace(slashPattern, escSlash)
        .replace(openPattern, escOpen)
        .replace(closePattern, escClose)
        .replace(commaPattern, escComma)
        .replace(periodPattern, escPeriod);
}
function unescapeBraces(str) {
    return str
        .replace(escSlashPattern, '\\')
        .replace(escOpenPattern, '{')
        .replace(escClosePattern, '}')
        .replace(escCommaPattern, ',')
        .replace(escPeriodPattern, '.');
}
// Like `target.push(...items)` but doesn't overflow the stack
function pushAll(target, items) {
    for (let i = 0; i < items.length; i++) {
        target.push(items[i]);
    }
}
// `balanced`, run on `masked` (see `maskUnmatchedOpens`), sliced from `str`
// and charged for the characters it walks: up to the group's `}`, or the
// whole string when there is no match or unmatched `{` come first, which
// `unmatched` then flags for masking. Once a call overdraws the budget, it
// and every later one return undefined, so the rest stays literal.
function balancedWithBudget(str, masked, budget) {
    if (budget.remaining < 0) {
        return undefined;
    }
    const r = range('{', '}', masked);
    const unmatched = r !== undefined && masked.indexOf('{') < r[0];
    budget.remaining -= r && !unmatched ? r[1] + 1 : str.length;
    if (!r || budget.remaining < 0) {
        return undefined;
    }
    return {
        end: r[1],
        pre: str.slice(0, r[0]),
        body: str.slice(r[0] + 1, r[1]),
        post: str.slice(r[1] + 1),
        unmatched,
    };
}
// `masked` with every `{` that has no matching `}` swapped for a `\0`, which
// keeps the length, so a scan of it still lines up with the string it was
// made from. Such a `{` is literal either way, but `balanced` only learns that
// one is unmatched by reading to the end of the string, so with one at the
// head of every group (`'{a,{b,c}'.repeat(n)`) each scan read the rest of the
// input. That was quadratic, and once the step budget charged for it, it ran
// out partway through and left the rest literal. A scan of the masked copy
// stops at the group's `}`. It is one pass, charged as such.
function maskUnmatchedOpens(masked, budget) {
    budget.remaining -= masked.length;
    const open = [];
    for (let i = 0; i < masked.length; i++) {
        const c = masked.charCodeAt(i);
        if (c === 0x7b) {
            open.push(i);
        }
        else if (c === 0x7d && open.length) {
            open.pop();
        }
    }
    let out = '';
    let last = 0;
    for (let i = 0; i < open.length; i++) {
        const at = open[i];
        out += masked.slice(last, at) + '\0';
        last = at + 1;
    }
    return out + masked.slice(last);
}
// Whether `str` has a `,` not followed by another `,`, with a `}` after it on
// the same line - what `/,(?!,).*\}/.test(str)` asks, answered in one pass from
// the end. The regex tries every `,` and backtracks through the rest of its
// line from each, which is quadratic, and the `{a},b}` rewrite asks again on
// every pass. Like a scan, it is charged for the whole string and refused if
// that overdraws the budget.
function commaSetFollows(str, budget) {
    budget.remaining -= str.length;
    if (budget.remaining < 0) {
        return false;
    }
    // Whether a `}` follows the current position before the line ends
    let close = false;
    for (let i = str.length - 1; i >= 0; i--) {
        const c = str.charCodeAt(i);
        if (c === 0x7d) {
            close = true;
        }
        else if (c === 0x0a || c === 0x0d || c === 0x2028 || c === 0x2029) {
            // A line terminator, which `.` does not match
            close = false;
        }
        else if (c === 0x2c && close && str.charCodeAt(i + 1) !== 0x2c) {
            return true;
        }
    }
    return false;
}
/**
 * Basically just str.split(","), but handling cases
 * where we have nested braced sections, which should be
 * treated as individual members, like {a,{b,c},d}
 *
 * Returns `undefined` if the step budget runs out before the whole set is
 * split, since splitting what is left on every comma would tear apart the
 * nested sets it still holds.
 */
function parseCommaParts(str, budget) {
    const parts = [];
    // Walk the brace groups iteratively. Recursing on `post` once per group let a
    // chain of them exhaust the stack - the parsing-side counterpart to
    // the `expand_` overflow fixed for CVE-2026-14257, and not something `max` or
    // `maxLength` can bound, since it happens before expansion.
    //
    // The part the next chunk continues
    let carry = '';
    for (;;) {
        // A set's body holds no unmatched `{`, so there is nothing to mask.
        const m = balancedWithBudget(str, str, budget);
        if (budget.remaining < 0) {
            return undefined;
        }
        if (!m) {
            const tail = str.split(',');
            tail[0] = carry + tail[0];
            pushAll(parts, tail);
            return parts;
        }
        const { pre, body, post } = m;
        const p = pre.split(',');
        p[0] = carry + p[0];
        p[p.length - 1] += '{' + body + '}';
        if (!post.length) {
            pushAll(parts, p);
            return parts;
        }
        carry = p.pop();
        pushAll(parts, p);
        str = post;
    }
}
// An option that is left out, or that is NaN, gets its default. Every
// comparison against NaN is false, so a NaN bound would never be reached:
// `{ maxSteps: NaN }` let 15KB of input block the event loop for 16 seconds,
// and `{ maxDepth: NaN }` overflowed the stack again (CVE-2026-102278). Pass
// `Infinity` to lift a bound.
function bound(value, fallback) {
    return value === undefined || isNaN(value) ? fallback : value;
}
function expand(str, options = {}) {
    if (!str) {
        return [];
    }
    const max = bound(options.max, EXPANSION_MAX);
    const maxLength = bound(options.maxLength, EXPANSION_MAX_LENGTH);
    const maxDepth = bound(options.maxDepth, EXPANSION_MAX_DEPTH);
    const maxRewrites = bound(options.maxRewrites, EXPANSION_MAX_REWRITES);
    const maxSteps = bound(options.maxSteps, EXPANSION_MAX_STEPS);
    // I don't know why Bash 4.3 does this, but it does.
    // Anything starting with {} will have the first two bytes preserved
    // but *only* at the top level, so {},a}b will not expand to anything,
    // but a{},b}c will be expanded to [a}c,abc].
    // One could argue that this is a bug in Bash, but since the goal of
    // this module is to match Bash's rules, we escape a leading {}
    if (str.slice(0, 2) === '{}') {
        str = '\\{\\}' + str.slice(2);
    }
    return expand_(escapeBraces(str), max, maxLength, maxDepth, 0, maxRewrites, { remaining: maxSteps }, true).map(unescapeBraces);
}
function embrace(str) {
    return '{' + str + '}';
}
function isPadded(el) {
    return /^-?0\d/.test(el);
}
function lte(i, y) {
    return i <= y;
}
function gte(i, y) {
    return i >= y;
}
// Build `{ acc[a] + pre + values[v] }` for every combination, capping the
// number of results at `max` and the total number of characters at `maxLength`.
// This is the one place output grows, so bounding it here keeps the single
// accumulator - and therefore memory - flat regardless of how many brace groups
// are combined (CVE-2026-14257). Each result built is a step, since `max` and
// `maxLength` bound one combination, not how many brace groups are combined.
function combine(acc, pre, values, max, maxLength, dropEmpties, budget) {
    const out = [];
    let length = 0;
    // Bash drops empty results at the top level, and they don't count against
    // `max`, so `max` bounds the number of *kept* results. Only an empty
    // `acc[a] + pre` can make one, so for those the empty values are skipped
    // without being visited. Visiting them one at a time let a set of empties
    // cost `acc.length * values.length` while keeping nothing.
    let nonEmpty;
    outer: for (let a = 0; a < acc.length; a++) {
        const prefix = acc[a] + pre;
        let vs = values;
        if (dropEmpties && !prefix) {
            if (!nonEmpty)
                nonEmpty = values.filter(v => v);
            vs = nonEmpty;
        }
        for (let v = 0; v < vs.length; v++) {
            if (out.length >= max)
                break outer;
            const expansion = prefix + vs[v];
            if (length + expansion.length > maxLength)
                break outer;
            out.push(expansion);
            length += expansion.length;
        }
    }
    budget.remaining -= out.length;
    return out;
}
// The expansion values of a single numeric (`1..5`) or alphabetic (`a..e..2`)
// sequence body, or `undefined` if the step budget runs out generating them.
function expandSequence(body, isAlphaSequence, max, maxLength, budget) {
    const n = body.split(/\.\./);
    const N = [];
    // A sequence body always splits into two or three parts, but the compiler
    // can't know that.
    /* c8 ignore start */
    if (n[0] === undefined || n[1] === undefined) {
        return N;
    }
    /* c8 ignore stop */
    const x = numeric(n[0]);
    const y = numeric(n[1]);
    const width = Math.max(n[0].length, n[1].length);
    let incr = n.length === 3 && n[2] !== undefined ?
        Math.max(Math.abs(numeric(n[2])), 1)
        : 1;
    let test = lte;
    const reverse = y < x;
    if (reverse) {
        incr *= -1;
        test = gte;
    }
    const pad = n.some(isPadded);
    // A padded value is built a character at a time to `width`, which the input
    // sets, so it costs one step per character: 64KB of
    // `('{' + '0'.repeat(100) + '..99999}').repeat(n)` took 7 seconds charged
    // one step per value.
    const cost = pad ? width : 1;
    let length = 0;
    for (let i = x; test(i, y) && N.length < max; i += incr) {
        // Each value is a step. `max` and `maxLength` bound one sequence, but a
        // chain of them still generated up to `max` values each, however few
        // combining could keep.
        budget.remaining -= cost;
        if (budget.remaining < 0) {
            return undefined;
        }
        let c;
        if (isAlphaSequence) {
            c = String.fromCharCode(i);
            if (c === '\\') {
                c = '';
            }
        }
        else {
            c = String(i);
            if (pad) {
                const need = width - c.length;
                if (need > 0) {
                    const z = new Array(need + 1).join('0');
                    if (i < 0) {
                        c = '-' + z + c.slice(1);
                    }
                    else {
                        c = z + c;
                    }
                }
            }
        }
        if (length + c.length > maxLength)
            break;
        N.push(c);
        length += c.length;
    }
    return N;
}
function expand_(str, max, maxLength, maxDepth, depth, maxRewrites, budget, isTop) {
    // An overdraft here makes the first scan refuse, so `str` stays literal.
    budget.remaining -= CALL_STEPS;
    // Too deeply nested to keep following: treat the rest as literal, the same
    // way a group that cannot expand is already handled. Truncating rather than
    // throwing keeps `expand` total, matching `max` and `maxLength`.
    if (depth > maxDepth) {
        return [str];
    }
    // Consume the string's top-level brace groups left to right, threading a
    // running set of combined prefixes (`acc`). Expanding the tail iteratively -
    // rather than recursing on `m.post` once per group - keeps the native stack
    // depth constant, so deeply chained input (`'{a,b}'.repeat(3000)`) can no
    // longer overflow the stack, and leaves a single accumulator whose size
    // `maxLength` bounds directly (CVE-2026-14257).
    let acc = [''];
    // Bash drops empty results, but only when the *first* top-level group is a
    // comma set - a sequence like `{a..\}` may legitimately yield ''. The drop
    // is on the final strings, so it is applied to whichever `combine` produces
    // them (the one with no brace set left in the tail).
    // How many times the `{a},b}` rewrite below has restarted the scan. Each pass
    // re-reads the whole string, so leaving this unbounded is quadratic.
    let rewrites = 0;
    let dropEmpties = false;
    let firstGroup = true;
    // `str` with its unmatched `{` masked, once a scan has run into them
    let masked = str;
    for (;;) {
        const m = balancedWithBudget(str, masked, budget);
        // No brace set left, or no step budget left to look for one: the rest of
        // the string is literal.
        if (!m) {
            return combine(acc, str, [''], max, maxLength, dropEmpties, budget);
        }
        if (m.unmatched) {
            masked = maskUnmatchedOpens(masked, budget);
        }
        // no need to expand pre, since it is guaranteed to be free of brace-sets
        const pre = m.pre;
        // This set and the rest of the string, literal: for a set that cannot
        // expand, and for one the step budget runs out on. Once it is overdrawn,
        // every set still being expanded, at every level, stays literal like this -
        // otherwise each level above would go on combining, and wrapping and
        // expanding again, results the budget was too small for.
        const literal = () => combine(acc, pre + '{' + m.body + '}' + m.post, [''], max, maxLength, dropEmpties, budget);
        if (/\$$/.test(pre)) {
            acc = combine(acc, pre + '{' + m.body + '}', [''], max, maxLength, dropEmpties && !m.post.length, budget);
            firstGroup = false;
            if (!m.post.length)
                break;
            str = m.post;
            masked = masked.slice(m.end + 1);
            continue;
        }
        const isNumericSequence = /^-?\d+\.\.-?\d+(?:\.\.-?\d+)?$/.test(m.body);
        const isAlphaSequence = /^[a-zA-Z]\.\.[a-zA-Z](?:\.\.-?\d+)?$/.test(m.body);
        const isSequence = isNumericSequence || isAlphaSequence;
        const isOptions = m.body.indexOf(',') >= 0;
        if (!isSequence && !isOptions) {
            // {a},b}
            if (rewrites < maxRewrites && commaSetFollows(m.post, budget)) {
                rewrites++;
                str = m.pre + '{' + m.body + escClose + m.post;
                // Taking a `}` away never gives an unmatched `{` a partner, so what
                // is masked stays unmatched. The `{` it closed can be left without
                // one, and the next scan masks it.
                masked =
                    masked.slice(0, m.end) + escClose + masked.slice(m.end + 1);
                isTop = true;
                continue;
            }
            // Nothing here expands, so the whole remaining string is literal.
            return literal();
        }
        if (firstGroup) {
            dropEmpties = isTop && !isSequence;
            firstGroup = false;
        }
        let values;
        if (isSequence) {
            values = expandSequence(m.body, isAlphaSequence, max, maxLength, budget);
            if (!values) {
                return literal();
            }
        }
        else {
            let n = parseCommaParts(m.body, budget);
            // The step budget ran out partway through the set.
            if (!n) {
                return literal();
            }
            if (n.length === 1 && n[0] !== undefined) {
                // x{{a,b}}y ==> x{a}y x{b}y
                n = expand_(n[0], max, maxLength, maxDepth, depth + 1, maxRewrites, budget, false).map(embrace);
                // The step budget ran out expanding the set's only part.
                if (budget.remaining < 0) {
                    return literal();
                }
                //XXX is this necessary? Can't seem to hit it in tests.
                /* c8 ignore start */
                if (n.length === 1) {
                    const next = combine(acc, pre + n[0], [''], max, maxLength, dropEmpties && !m.post.length, budget);
                    if (budget.remaining < 0) {
                        return literal();
                    }
                    acc = next;
                    if (!m.post.length)
                        break;
                    str = m.post;
                    masked = masked.slice(m.end + 1);
                    continue;
                }
                /* c8 ignore stop */
            }
            // Values that `combine` is going to drop as empty produce no result, so
            // they must not count against `max` - otherwise `{a,,b}` with `max: 2`
            // would stop at `['a', '']` and yield one result instead of two. Skipping
            // them outright keeps `values` bounded while leaving `max` a bound on
            // *kept* results.
            let dropsEmpties = dropEmpties && !m.post.length && !pre;
            for (let d = 0; dropsEmpties && d < acc.length; d++) {
                if (acc[d]) {
                    dropsEmpties = false;
                }
            }
            values = [];
            let valuesLength = 0;
            outer: for (let j = 0; j < n.length; j++) {
                const expanded = expand_(n[j], max, maxLength, maxDepth, depth + 1, maxRewrites, budget, false);
                // The step budget ran out expanding a member.
                if (budget.remaining < 0) {
                    return literal();
                }
                for (let k = 0; k < expanded.length; k++) {
                    const v = expanded[k];
                    if (dropsEmpties && !v)
                        continue;
                    if (values.length >= max ||
                        valuesLength + v.length > maxLength) {
                        break outer;
                    }
                    values.push(v);
                    valuesLength += v.length;
                }
            }
        }
        const next = combine(acc, pre, values, max, maxLength, dropEmpties && !m.post.length, budget);
        // The step budget ran out combining the set's values in.
        if (budget.remaining < 0) {
            return literal();
        }
        acc = next;
        if (!m.post.length)
            break;
        str = m.post;
        masked = masked.slice(m.end + 1);
    }
    return acc;
}
//# sourceMappingURL=index.js.map
;// CONCATENATED MODULE: ./node_modules/minimatch/dist/esm/assert-valid-pattern.js
const MAX_PATTERN_LENGTH = 1024 * 64;
const assertValidPattern = (pattern) => {
    if (typeof pattern !== 'string') {
        throw new TypeError('invalid pattern');
    }
    if (pattern.length > MAX_PATTERN_LENGTH) {
        throw new TypeError('pattern is too long');
    }
};
//# sourceMappingURL=assert-valid-pattern.js.map
;// CONCATENATED MODULE: ./node_modules/minimatch/dist/esm/brace-expressions.js
// translate the various posix character classes into unicode properties
// this works across all unicode locales
// { <posix class>: [<translation>, /u flag required, negated]
const posixClasses = {
    '[:alnum:]': ['\\p{L}\\p{Nl}\\p{Nd}', true],
    '[:alpha:]': ['\\p{L}\\p{Nl}', true],
    '[:ascii:]': ['\\x' + '00-\\x' + '7f', false],
    '[:blank:]': ['\\p{Zs}\\t', true],
    '[:cntrl:]': ['\\p{Cc}', true],
    '[:digit:]': ['\\p{Nd}', true],
    '[:graph:]': ['\\p{Z}\\p{C}', true, true],
    '[:lower:]': ['\\p{Ll}', true],
    '[:print:]': ['\\p{C}', true],
    '[:punct:]': ['\\p{P}', true],
    '[:space:]': ['\\p{Z}\\t\\r\\n\\v\\f', true],
    '[:upper:]': ['\\p{Lu}', true],
    '[:word:]': ['\\p{L}\\p{Nl}\\p{Nd}\\p{Pc}', true],
    '[:xdigit:]': ['A-Fa-f0-9', false],
};
// only need to escape a few things inside of brace expressions
// escapes: [ \ ] -
const braceEscape = (s) => s.replace(/[[\]\\-]/g, '\\$&');
// escape all regexp magic characters
const regexpEscape = (s) => s.replace(/[-[\]{}()*+?.,\\^$|#\s]/g, '\\$&');
// everything has already been escaped, we just have to join
const rangesToString = (ranges) => ranges.join('');
// takes a glob string at a posix brace expression, and returns
// an equivalent regular expression source, and boolean indicating
// whether the /u flag needs to be applied, and the number of chars
// consumed to parse the character class.
// This also removes out of order ranges, and returns ($.) if the
// entire class just no good.
const parseClass = (glob, position) => {
    const pos = position;
    /* c8 ignore start */
    if (glob.charAt(pos) !== '[') {
        throw new Error('not in a brace expression');
    }
    /* c8 ignore stop */
    const ranges = [];
    const negs = [];
    let i = pos + 1;
    let sawStart = false;
    let uflag = false;
    let escaping = false;
    let negate = false;
    let endPos = pos;
    let rangeStart = '';
    WHILE: while (i < glob.length) {
        const c = glob.charAt(i);
        if ((c === '!' || c === '^') && i === pos + 1) {
            negate = true;
            i++;
            continue;
        }
        if (c === ']' && sawStart && !escaping) {
            endPos = i + 1;
            break;
        }
        sawStart = true;
        if (c === '\\') {
            if (!escaping) {
                escaping = true;
                i++;
                continue;
            }
            // escaped \ char, fall through and treat like normal char
        }
        if (c === '[' && !escaping) {
            // either a posix class, a collation equivalent, or just a [
            for (const [cls, [unip, u, neg]] of Object.entries(posixClasses)) {
                if (glob.startsWith(cls, i)) {
                    // invalid, [a-[] is fine, but not [a-[:alpha]]
                    if (rangeStart) {
                        return ['$.', false, glob.length - pos, true];
                    }
                    i += cls.length;
                    if (neg)
                        negs.push(unip);
                    else
                        ranges.push(unip);
                    uflag = uflag || u;
                    continue WHILE;
                }
            }
        }
        // now it's just a normal character, effectively
        escaping = false;
        if (rangeStart) {
            // throw this range away if it's not valid, but others
            // can still match.
            if (c > rangeStart) {
                ranges.push(braceEscape(rangeStart) + '-' + braceEscape(c));
            }
            else if (c === rangeStart) {
                ranges.push(braceEscape(c));
            }
            rangeStart = '';
            i++;
            continue;
        }
        // now might be the start of a range.
        // can be either c-d or c-] or c<more...>] or c] at this point
        if (glob.startsWith('-]', i + 1)) {
            ranges.push(braceEscape(c + '-'));
            i += 2;
            continue;
        }
        if (glob.startsWith('-', i + 1)) {
            rangeStart = c;
            i += 2;
            continue;
        }
        // not the start of a range, just a single character
        ranges.push(braceEscape(c));
        i++;
    }
    if (endPos < i) {
        // didn't see the end of the class, not a valid class,
        // but might still be valid as a literal match.
        return ['', false, 0, false];
    }
    // if we got no ranges and no negates, then we have a range that
    // cannot possibly match anything, and that poisons the whole glob
    if (!ranges.length && !negs.length) {
        return ['$.', false, glob.length - pos, true];
    }
    // if we got one positive range, and it's a single character, then that's
    // not actually a magic pattern, it's just that one literal character.
    // we should not treat that as "magic", we should just return the literal
    // character. [_] is a perfectly valid way to escape glob magic chars.
    if (negs.length === 0 &&
        ranges.length === 1 &&
        /^\\?.$/.test(ranges[0]) &&
        !negate) {
        const r = ranges[0].length === 2 ? ranges[0].slice(-1) : ranges[0];
        return [regexpEscape(r), false, endPos - pos, false];
    }
    const sranges = '[' + (negate ? '^' : '') + rangesToString(ranges) + ']';
    const snegs = '[' + (negate ? '' : '^') + rangesToString(negs) + ']';
    const comb = ranges.length && negs.length ? '(' + sranges + '|' + snegs + ')'
        : ranges.length ? sranges
            : snegs;
    return [comb, uflag, endPos - pos, true];
};
//# sourceMappingURL=brace-expressions.js.map
;// CONCATENATED MODULE: ./node_modules/minimatch/dist/esm/unescape.js
/**
 * Un-escape a string that has been escaped with {@link escape}.
 *
 * If the {@link MinimatchOptions.windowsPathsNoEscape} option is used, then
 * square-bracket escapes are removed, but not backslash escapes.
 *
 * For example, it will turn the string `'[*]'` into `*`, but it will not
 * turn `'\\*'` into `'*'`, because `\` is a path separator in
 * `windowsPathsNoEscape` mode.
 *
 * When `windowsPathsNoEscape` is not set, then both square-bracket escapes and
 * backslash escapes are removed.
 *
 * Slashes (and backslashes in `windowsPathsNoEscape` mode) cannot be escaped
 * or unescaped.
 *
 * When `magicalBraces` is not set, escapes of braces (`{` and `}`) will not be
 * unescaped.
 */
const unescape_unescape = (s, { windowsPathsNoEscape = false, magicalBraces = true, } = {}) => {
    if (magicalBraces) {
        return windowsPathsNoEscape ?
            s.replace(/\[([^/\\])\]/g, '$1')
            : s
                .replace(/((?!\\).|^)\[([^/\\])\]/g, '$1$2')
                .replace(/\\([^/])/g, '$1');
    }
    return windowsPathsNoEscape ?
        s.replace(/\[([^/\\{}])\]/g, '$1')
        : s
            .replace(/((?!\\).|^)\[([^/\\{}])\]/g, '$1$2')
            .replace(/\\([^/{}])/g, '$1');
};
//# sourceMappingURL=unescape.js.map
;// CONCATENATED MODULE: ./node_modules/minimatch/dist/esm/ast.js
// parse a single path portion
var _a;


const types = new Set(['!', '?', '+', '*', '@']);
const isExtglobType = (c) => types.has(c);
const isExtglobAST = (c) => isExtglobType(c.type);
// Map of which extglob types can adopt the children of a nested extglob
//
// anything but ! can adopt a matching type:
// +(a|+(b|c)|d) => +(a|b|c|d)
// *(a|*(b|c)|d) => *(a|b|c|d)
// @(a|@(b|c)|d) => @(a|b|c|d)
// ?(a|?(b|c)|d) => ?(a|b|c|d)
//
// * can adopt anything, because 0 or repetition is allowed
// *(a|?(b|c)|d) => *(a|b|c|d)
// *(a|+(b|c)|d) => *(a|b|c|d)
// *(a|@(b|c)|d) => *(a|b|c|d)
//
// + can adopt @, because 1 or repetition is allowed
// +(a|@(b|c)|d) => +(a|b|c|d)
//
// + and @ CANNOT adopt *, because 0 would be allowed
// +(a|*(b|c)|d) => would match "", on *(b|c)
// @(a|*(b|c)|d) => would match "", on *(b|c)
//
// + and @ CANNOT adopt ?, because 0 would be allowed
// +(a|?(b|c)|d) => would match "", on ?(b|c)
// @(a|?(b|c)|d) => would match "", on ?(b|c)
//
// ? can adopt @, because 0 or 1 is allowed
// ?(a|@(b|c)|d) => ?(a|b|c|d)
//
// ? and @ CANNOT adopt * or +, because >1 would be allowed
// ?(a|*(b|c)|d) => would match bbb on *(b|c)
// @(a|*(b|c)|d) => would match bbb on *(b|c)
// ?(a|+(b|c)|d) => would match bbb on +(b|c)
// @(a|+(b|c)|d) => would match bbb on +(b|c)
//
// ! CANNOT adopt ! (nothing else can either)
// !(a|!(b|c)|d) => !(a|b|c|d) would fail to match on b (not not b|c)
//
// ! can adopt @
// !(a|@(b|c)|d) => !(a|b|c|d)
//
// ! CANNOT adopt *
// !(a|*(b|c)|d) => !(a|b|c|d) would match on bbb, not allowed
//
// ! CANNOT adopt +
// !(a|+(b|c)|d) => !(a|b|c|d) would match on bbb, not allowed
//
// ! CANNOT adopt ?
// x!(a|?(b|c)|d) => x!(a|b|c|d) would fail to match "x"
const adoptionMap = new Map([
    ['!', ['@']],
    ['?', ['?', '@']],
    ['@', ['@']],
    ['*', ['*', '+', '?', '@']],
    ['+', ['+', '@']],
]);
// nested extglobs that can be adopted in, but with the addition of
// a blank '' element.
const adoptionWithSpaceMap = new Map([
    ['!', ['?']],
    ['@', ['?']],
    ['+', ['?', '*']],
]);
// union of the previous two maps
const adoptionAnyMap = new Map([
    ['!', ['?', '@']],
    ['?', ['?', '@']],
    ['@', ['?', '@']],
    ['*', ['*', '+', '?', '@']],
    ['+', ['+', '@', '?', '*']],
]);
// Extglobs that can take over their parent if they are the only child
// the key is parent, value maps child to resulting extglob parent type
// '@' is omitted because it's a special case. An `@` extglob with a single
// member can always be usurped by that subpattern.
const usurpMap = new Map([
    ['!', new Map([['!', '@']])],
    [
        '?',
        new Map([
            ['*', '*'],
            ['+', '*'],
        ]),
    ],
    [
        '@',
        new Map([
            ['!', '!'],
            ['?', '?'],
            ['@', '@'],
            ['*', '*'],
            ['+', '+'],
        ]),
    ],
    [
        '+',
        new Map([
            ['?', '*'],
            ['*', '*'],
        ]),
    ],
]);
// Patterns that get prepended to bind to the start of either the
// entire string, or just a single path portion, to prevent dots
// and/or traversal patterns, when needed.
// Exts don't need the ^ or / bit, because the root binds that already.
const startNoTraversal = '(?!(?:^|/)\\.\\.?(?:$|/))';
const startNoDot = '(?!\\.)';
// characters that indicate a start of pattern needs the "no dots" bit,
// because a dot *might* be matched. ( is not in the list, because in
// the case of a child extglob, it will handle the prevention itself.
const addPatternStart = new Set(['[', '.']);
// cases where traversal is A-OK, no dot prevention needed
const justDots = new Set(['..', '.']);
const reSpecials = new Set('().*{}+?[]^$\\!');
const regExpEscape = (s) => s.replace(/[-[\]{}()*+?.,\\^$|#\s]/g, '\\$&');
// any single thing other than /
const qmark = '[^/]';
// * => any number of characters
const star = qmark + '*?';
// use + when we need to ensure that *something* matches, because the * is
// the only thing in the path portion.
const starNoEmpty = qmark + '+?';
// remove the \ chars that we added if we end up doing a nonmagic compare
// const deslash = (s: string) => s.replace(/\\(.)/g, '$1')
let ID = 0;
class AST {
    type;
    #root;
    #hasMagic;
    #uflag = false;
    #parts = [];
    #parent;
    #parentIndex;
    #negs;
    #filledNegs = false;
    #options;
    #toString;
    // set to true if it's an extglob with no children
    // (which really means one child of '')
    #emptyExt = false;
    id = ++ID;
    get depth() {
        return (this.#parent?.depth ?? -1) + 1;
    }
    [Symbol.for('nodejs.util.inspect.custom')]() {
        return {
            '@@type': 'AST',
            id: this.id,
            type: this.type,
            root: this.#root.id,
            parent: this.#parent?.id,
            depth: this.depth,
            partsLength: this.#parts.length,
            parts: this.#parts,
        };
    }
    constructor(type, parent, options = {}) {
        this.type = type;
        // extglobs are inherently magical
        if (type)
            this.#hasMagic = true;
        this.#parent = parent;
        this.#root = this.#parent ? this.#parent.#root : this;
        this.#options = this.#root === this ? options : this.#root.#options;
        this.#negs = this.#root === this ? [] : this.#root.#negs;
        if (type === '!' && !this.#root.#filledNegs)
            this.#negs.push(this);
        this.#parentIndex = this.#parent ? this.#parent.#parts.length : 0;
    }
    get hasMagic() {
        /* c8 ignore start */
        if (this.#hasMagic !== undefined)
            return this.#hasMagic;
        /* c8 ignore stop */
        for (const p of this.#parts) {
            if (typeof p === 'string')
                continue;
            if (p.type || p.hasMagic)
                return (this.#hasMagic = true);
        }
        // note: will be undefined until we generate the regexp src and find out
        return this.#hasMagic;
    }
    // reconstructs the pattern
    toString() {
        return (this.#toString !== undefined ? this.#toString
            : !this.type ?
                (this.#toString = this.#parts.map(p => String(p)).join(''))
                : (this.#toString =
                    this.type +
                        '(' +
                        this.#parts.map(p => String(p)).join('|') +
                        ')'));
    }
    #fillNegs() {
        /* c8 ignore start */
        if (this !== this.#root)
            throw new Error('should only call on root');
        if (this.#filledNegs)
            return this;
        /* c8 ignore stop */
        // call toString() once to fill this out
        this.toString();
        this.#filledNegs = true;
        let n;
        while ((n = this.#negs.pop())) {
            if (n.type !== '!')
                continue;
            // walk up the tree, appending everthing that comes AFTER parentIndex
            let p = n;
            let pp = p.#parent;
            while (pp) {
                for (let i = p.#parentIndex + 1; !pp.type && i < pp.#parts.length; i++) {
                    for (const part of n.#parts) {
                        /* c8 ignore start */
                        if (typeof part === 'string') {
                            throw new Error('string part in extglob AST??');
                        }
                        /* c8 ignore stop */
                        part.copyIn(pp.#parts[i]);
                    }
                }
                p = pp;
                pp = p.#parent;
            }
        }
        return this;
    }
    push(...parts) {
        for (const p of parts) {
            if (p === '')
                continue;
            /* c8 ignore start */
            if (typeof p !== 'string' &&
                !(p instanceof _a && p.#parent === this)) {
                throw new Error('invalid part: ' + p);
            }
            /* c8 ignore stop */
            this.#parts.push(p);
        }
    }
    toJSON() {
        const ret = this.type === null ?
            this.#parts
                .slice()
                .map(p => (typeof p === 'string' ? p : p.toJSON()))
            : [this.type, ...this.#parts.map(p => p.toJSON())];
        if (this.isStart() && !this.type)
            ret.unshift([]);
        if (this.isEnd() &&
            (this === this.#root ||
                (this.#root.#filledNegs && this.#parent?.type === '!'))) {
            ret.push({});
        }
        return ret;
    }
    isStart() {
        if (this.#root === this)
            return true;
        // if (this.type) return !!this.#parent?.isStart()
        if (!this.#parent?.isStart())
            return false;
        if (this.#parentIndex === 0)
            return true;
        // if everything AHEAD of this is a negation, then it's still the "start"
        const p = this.#parent;
        for (let i = 0; i < this.#parentIndex; i++) {
            const pp = p.#parts[i];
            if (!(pp instanceof _a && pp.type === '!')) {
                return false;
            }
        }
        return true;
    }
    isEnd() {
        if (this.#root === this)
            return true;
        if (this.#parent?.type === '!')
            return true;
        if (!this.#parent?.isEnd())
            return false;
        if (!this.type)
            return this.#parent?.isEnd();
        // if not root, it'll always have a parent
        /* c8 ignore start */
        const pl = this.#parent ? this.#parent.#parts.length : 0;
        /* c8 ignore stop */
        return this.#parentIndex === pl - 1;
    }
    copyIn(part) {
        if (typeof part === 'string')
            this.push(part);
        else
            this.push(part.clone(this));
    }
    clone(parent) {
        const c = new _a(this.type, parent);
        for (const p of this.#parts) {
            c.copyIn(p);
        }
        return c;
    }
    static #parseAST(str, ast, pos, opt, extDepth) {
        const maxDepth = opt.maxExtglobRecursion ?? 2;
        let escaping = false;
        let inBrace = false;
        let braceStart = -1;
        let braceNeg = false;
        if (ast.type === null) {
            // outside of a extglob, append until we find a start
            let i = pos;
            let acc = '';
            while (i < str.length) {
                const c = str.charAt(i++);
                // still accumulate escapes at this point, but we do ignore
                // starts that are escaped
                if (escaping || c === '\\') {
                    escaping = !escaping;
                    acc += c;
                    continue;
                }
                if (inBrace) {
                    if (i === braceStart + 1) {
                        if (c === '^' || c === '!') {
                            braceNeg = true;
                        }
                    }
                    else if (c === ']' && !(i === braceStart + 2 && braceNeg)) {
                        inBrace = false;
                    }
                    acc += c;
                    continue;
                }
                else if (c === '[') {
                    inBrace = true;
                    braceStart = i;
                    braceNeg = false;
                    acc += c;
                    continue;
                }
                // we don't have to check for adoption here, because that's
                // done at the other recursion point.
                const doRecurse = !opt.noext &&
                    isExtglobType(c) &&
                    str.charAt(i) === '(' &&
                    extDepth <= maxDepth;
                if (doRecurse) {
                    ast.push(acc);
                    acc = '';
                    const ext = new _a(c, ast);
                    i = _a.#parseAST(str, ext, i, opt, extDepth + 1);
                    ast.push(ext);
                    continue;
                }
                acc += c;
            }
            ast.push(acc);
            return i;
        }
        // some kind of extglob, pos is at the (
        // find the next | or )
        let i = pos + 1;
        let part = new _a(null, ast);
        const parts = [];
        let acc = '';
        while (i < str.length) {
            const c = str.charAt(i++);
            // still accumulate escapes at this point, but we do ignore
            // starts that are escaped
            if (escaping || c === '\\') {
                escaping = !escaping;
                acc += c;
                continue;
            }
            if (inBrace) {
                if (i === braceStart + 1) {
                    if (c === '^' || c === '!') {
                        braceNeg = true;
                    }
                }
                else if (c === ']' && !(i === braceStart + 2 && braceNeg)) {
                    inBrace = false;
                }
                acc += c;
                continue;
            }
            else if (c === '[') {
                inBrace = true;
                braceStart = i;
                braceNeg = false;
                acc += c;
                continue;
            }
            const doRecurse = !opt.noext &&
                isExtglobType(c) &&
                str.charAt(i) === '(' &&
                /* c8 ignore start - the maxDepth is sufficient here */
                (extDepth <= maxDepth || (ast && ast.#canAdoptType(c)));
            /* c8 ignore stop */
            if (doRecurse) {
                const depthAdd = ast && ast.#canAdoptType(c) ? 0 : 1;
                part.push(acc);
                acc = '';
                const ext = new _a(c, part);
                part.push(ext);
                i = _a.#parseAST(str, ext, i, opt, extDepth + depthAdd);
                continue;
            }
            if (c === '|') {
                part.push(acc);
                acc = '';
                parts.push(part);
                part = new _a(null, ast);
                continue;
            }
            if (c === ')') {
                if (acc === '' && ast.#parts.length === 0) {
                    ast.#emptyExt = true;
                }
                part.push(acc);
                acc = '';
                ast.push(...parts, part);
                return i;
            }
            acc += c;
        }
        // unfinished extglob
        // if we got here, it was a malformed extglob! not an extglob, but
        // maybe something else in there.
        ast.type = null;
        ast.#hasMagic = undefined;
        ast.#parts = [str.substring(pos - 1)];
        return i;
    }
    #canAdoptWithSpace(child) {
        return this.#canAdopt(child, adoptionWithSpaceMap);
    }
    #canAdopt(child, map = adoptionMap) {
        if (!child ||
            typeof child !== 'object' ||
            child.type !== null ||
            child.#parts.length !== 1 ||
            this.type === null) {
            return false;
        }
        const gc = child.#parts[0];
        if (!gc || typeof gc !== 'object' || gc.type === null) {
            return false;
        }
        return this.#canAdoptType(gc.type, map);
    }
    #canAdoptType(c, map = adoptionAnyMap) {
        return !!map.get(this.type)?.includes(c);
    }
    #adoptWithSpace(child, index) {
        const gc = child.#parts[0];
        const blank = new _a(null, gc, this.options);
        blank.#parts.push('');
        gc.push(blank);
        this.#adopt(child, index);
    }
    #adopt(child, index) {
        const gc = child.#parts[0];
        this.#parts.splice(index, 1, ...gc.#parts);
        for (const p of gc.#parts) {
            if (typeof p === 'object')
                p.#parent = this;
        }
        this.#toString = undefined;
    }
    #canUsurpType(c) {
        const m = usurpMap.get(this.type);
        return !!m?.has(c);
    }
    #canUsurp(child) {
        if (!child ||
            typeof child !== 'object' ||
            child.type !== null ||
            child.#parts.length !== 1 ||
            this.type === null ||
            this.#parts.length !== 1) {
            return false;
        }
        const gc = child.#parts[0];
        if (!gc || typeof gc !== 'object' || gc.type === null) {
            return false;
        }
        return this.#canUsurpType(gc.type);
    }
    #usurp(child) {
        const m = usurpMap.get(this.type);
        const gc = child.#parts[0];
        const nt = m?.get(gc.type);
        /* c8 ignore start - impossible */
        if (!nt)
            return false;
        /* c8 ignore stop */
        this.#parts = gc.#parts;
        for (const p of this.#parts) {
            if (typeof p === 'object') {
                p.#parent = this;
            }
        }
        this.type = nt;
        this.#toString = undefined;
        this.#emptyExt = false;
    }
    static fromGlob(pattern, options = {}) {
        const ast = new _a(null, undefined, options);
        _a.#parseAST(pattern, ast, 0, options, 0);
        return ast;
    }
    // returns the regular expression if there's magic, or the unescaped
    // string if not.
    toMMPattern() {
        // should only be called on root
        /* c8 ignore start */
        if (this !== this.#root)
            return this.#root.toMMPattern();
        /* c8 ignore stop */
        const glob = this.toString();
        const [re, body, hasMagic, uflag] = this.toRegExpSource();
        // if we're in nocase mode, and not nocaseMagicOnly, then we do
        // still need a regular expression if we have to case-insensitively
        // match capital/lowercase characters.
        const anyMagic = hasMagic ||
            this.#hasMagic ||
            (this.#options.nocase &&
                !this.#options.nocaseMagicOnly &&
                glob.toUpperCase() !== glob.toLowerCase());
        if (!anyMagic) {
            return body;
        }
        const flags = (this.#options.nocase ? 'i' : '') + (uflag ? 'u' : '');
        return Object.assign(new RegExp(`^${re}$`, flags), {
            _src: re,
            _glob: glob,
        });
    }
    get options() {
        return this.#options;
    }
    // returns the string match, the regexp source, whether there's magic
    // in the regexp (so a regular expression is required) and whether or
    // not the uflag is needed for the regular expression (for posix classes)
    // TODO: instead of injecting the start/end at this point, just return
    // the BODY of the regexp, along with the start/end portions suitable
    // for binding the start/end in either a joined full-path makeRe context
    // (where we bind to (^|/), or a standalone matchPart context (where
    // we bind to ^, and not /).  Otherwise slashes get duped!
    //
    // In part-matching mode, the start is:
    // - if not isStart: nothing
    // - if traversal possible, but not allowed: ^(?!\.\.?$)
    // - if dots allowed or not possible: ^
    // - if dots possible and not allowed: ^(?!\.)
    // end is:
    // - if not isEnd(): nothing
    // - else: $
    //
    // In full-path matching mode, we put the slash at the START of the
    // pattern, so start is:
    // - if first pattern: same as part-matching mode
    // - if not isStart(): nothing
    // - if traversal possible, but not allowed: /(?!\.\.?(?:$|/))
    // - if dots allowed or not possible: /
    // - if dots possible and not allowed: /(?!\.)
    // end is:
    // - if last pattern, same as part-matching mode
    // - else nothing
    //
    // Always put the (?:$|/) on negated tails, though, because that has to be
    // there to bind the end of the negated pattern portion, and it's easier to
    // just stick it in now rather than try to inject it later in the middle of
    // the pattern.
    //
    // We can just always return the same end, and leave it up to the caller
    // to know whether it's going to be used joined or in parts.
    // And, if the start is adjusted slightly, can do the same there:
    // - if not isStart: nothing
    // - if traversal possible, but not allowed: (?:/|^)(?!\.\.?$)
    // - if dots allowed or not possible: (?:/|^)
    // - if dots possible and not allowed: (?:/|^)(?!\.)
    //
    // But it's better to have a simpler binding without a conditional, for
    // performance, so probably better to return both start options.
    //
    // Then the caller just ignores the end if it's not the first pattern,
    // and the start always gets applied.
    //
    // But that's always going to be $ if it's the ending pattern, or nothing,
    // so the caller can just attach $ at the end of the pattern when building.
    //
    // So the todo is:
    // - better detect what kind of start is needed
    // - return both flavors of starting pattern
    // - attach $ at the end of the pattern when creating the actual RegExp
    //
    // Ah, but wait, no, that all only applies to the root when the first pattern
    // is not an extglob. If the first pattern IS an extglob, then we need all
    // that dot prevention biz to live in the extglob portions, because eg
    // +(*|.x*) can match .xy but not .yx.
    //
    // So, return the two flavors if it's #root and the first child is not an
    // AST, otherwise leave it to the child AST to handle it, and there,
    // use the (?:^|/) style of start binding.
    //
    // Even simplified further:
    // - Since the start for a join is eg /(?!\.) and the start for a part
    // is ^(?!\.), we can just prepend (?!\.) to the pattern (either root
    // or start or whatever) and prepend ^ or / at the Regexp construction.
    toRegExpSource(allowDot) {
        const dot = allowDot ?? !!this.#options.dot;
        if (this.#root === this) {
            this.#flatten();
            this.#fillNegs();
        }
        if (!isExtglobAST(this)) {
            const noEmpty = this.isStart() &&
                this.isEnd() &&
                !this.#parts.some(s => typeof s !== 'string');
            const src = this.#parts
                .map(p => {
                const [re, _, hasMagic, uflag] = typeof p === 'string' ?
                    _a.#parseGlob(p, this.#hasMagic, noEmpty)
                    : p.toRegExpSource(allowDot);
                this.#hasMagic = this.#hasMagic || hasMagic;
                this.#uflag = this.#uflag || uflag;
                return re;
            })
                .join('');
            let start = '';
            if (this.isStart()) {
                if (typeof this.#parts[0] === 'string') {
                    // this is the string that will match the start of the pattern,
                    // so we need to protect against dots and such.
                    // '.' and '..' cannot match unless the pattern is that exactly,
                    // even if it starts with . or dot:true is set.
                    const dotTravAllowed = this.#parts.length === 1 && justDots.has(this.#parts[0]);
                    if (!dotTravAllowed) {
                        const aps = addPatternStart;
                        // check if we have a possibility of matching . or ..,
                        // and prevent that.
                        const needNoTrav = 
                        // dots are allowed, and the pattern starts with [ or .
                        (dot && aps.has(src.charAt(0))) ||
                            // the pattern starts with \., and then [ or .
                            (src.startsWith('\\.') && aps.has(src.charAt(2))) ||
                            // the pattern starts with \.\., and then [ or .
                            (src.startsWith('\\.\\.') && aps.has(src.charAt(4)));
                        // no need to prevent dots if it can't match a dot, or if a
                        // sub-pattern will be preventing it anyway.
                        const needNoDot = !dot && !allowDot && aps.has(src.charAt(0));
                        start =
                            needNoTrav ? startNoTraversal
                                : needNoDot ? startNoDot
                                    : '';
                    }
                }
            }
            // append the "end of path portion" pattern to negation tails
            let end = '';
            if (this.isEnd() &&
                this.#root.#filledNegs &&
                this.#parent?.type === '!') {
                end = '(?:$|\\/)';
            }
            const final = start + src + end;
            return [
                final,
                unescape_unescape(src),
                (this.#hasMagic = !!this.#hasMagic),
                this.#uflag,
            ];
        }
        // We need to calculate the body *twice* if it's a repeat pattern
        // at the start, once in nodot mode, then again in dot mode, so a
        // pattern like *(?) can match 'x.y'
        const repeated = this.type === '*' || this.type === '+';
        // some kind of extglob
        const start = this.type === '!' ? '(?:(?!(?:' : '(?:';
        let body = this.#partsToRegExp(dot);
        if (this.isStart() && this.isEnd() && !body && this.type !== '!') {
            // invalid extglob, has to at least be *something* present, if it's
            // the entire path portion.
            const s = this.toString();
            const me = this;
            me.#parts = [s];
            me.type = null;
            me.#hasMagic = undefined;
            return [s, unescape_unescape(this.toString()), false, false];
        }
        let bodyDotAllowed = !repeated || allowDot || dot || !startNoDot ?
            ''
            : this.#partsToRegExp(true);
        if (bodyDotAllowed === body) {
            bodyDotAllowed = '';
        }
        if (bodyDotAllowed) {
            body = `(?:${body})(?:${bodyDotAllowed})*?`;
        }
        // an empty !() is exactly equivalent to a starNoEmpty
        let final = '';
        if (this.type === '!' && this.#emptyExt) {
            final = (this.isStart() && !dot ? startNoDot : '') + starNoEmpty;
        }
        else {
            const close = this.type === '!' ?
                // !() must match something,but !(x) can match ''
                '))' +
                    (this.isStart() && !dot && !allowDot ? startNoDot : '') +
                    star +
                    ')'
                : this.type === '@' ? ')'
                    : this.type === '?' ? ')?'
                        : this.type === '+' && bodyDotAllowed ? ')'
                            : this.type === '*' && bodyDotAllowed ? `)?`
                                : `)${this.type}`;
            final = start + body + close;
        }
        return [
            final,
            unescape_unescape(body),
            (this.#hasMagic = !!this.#hasMagic),
            this.#uflag,
        ];
    }
    #flatten() {
        if (!isExtglobAST(this)) {
            for (const p of this.#parts) {
                if (typeof p === 'object') {
                    p.#flatten();
                }
            }
        }
        else {
            // do up to 10 passes to flatten as much as possible
            let iterations = 0;
            let done = false;
            do {
                done = true;
                for (let i = 0; i < this.#parts.length; i++) {
                    const c = this.#parts[i];
                    if (typeof c === 'object') {
                        c.#flatten();
                        if (this.#canAdopt(c)) {
                            done = false;
                            this.#adopt(c, i);
                        }
                        else if (this.#canAdoptWithSpace(c)) {
                            done = false;
                            this.#adoptWithSpace(c, i);
                        }
                        else if (this.#canUsurp(c)) {
                            done = false;
                            this.#usurp(c);
                        }
                    }
                }
            } while (!done && ++iterations < 10);
        }
        this.#toString = undefined;
    }
    #partsToRegExp(dot) {
        return this.#parts
            .map(p => {
            // extglob ASTs should only contain parent ASTs
            /* c8 ignore start */
            if (typeof p === 'string') {
                throw new Error('string type in extglob ast??');
            }
            /* c8 ignore stop */
            // can ignore hasMagic, because extglobs are already always magic
            const [re, _, _hasMagic, uflag] = p.toRegExpSource(dot);
            this.#uflag = this.#uflag || uflag;
            return re;
        })
            .filter(p => !(this.isStart() && this.isEnd()) || !!p)
            .join('|');
    }
    static #parseGlob(glob, hasMagic, noEmpty = false) {
        let escaping = false;
        let re = '';
        let uflag = false;
        // multiple stars that aren't globstars coalesce into one *
        let inStar = false;
        for (let i = 0; i < glob.length; i++) {
            const c = glob.charAt(i);
            if (escaping) {
                escaping = false;
                re += (reSpecials.has(c) ? '\\' : '') + c;
                continue;
            }
            if (c === '*') {
                if (inStar)
                    continue;
                inStar = true;
                re += noEmpty && /^[*]+$/.test(glob) ? starNoEmpty : star;
                hasMagic = true;
                continue;
            }
            else {
                inStar = false;
            }
            if (c === '\\') {
                if (i === glob.length - 1) {
                    re += '\\\\';
                }
                else {
                    escaping = true;
                }
                continue;
            }
            if (c === '[') {
                const [src, needUflag, consumed, magic] = parseClass(glob, i);
                if (consumed) {
                    re += src;
                    uflag = uflag || needUflag;
                    i += consumed - 1;
                    hasMagic = hasMagic || magic;
                    continue;
                }
            }
            if (c === '?') {
                re += qmark;
                hasMagic = true;
                continue;
            }
            re += regExpEscape(c);
        }
        return [re, unescape_unescape(glob), !!hasMagic, uflag];
    }
}
_a = AST;
//# sourceMappingURL=ast.js.map
;// CONCATENATED MODULE: ./node_modules/minimatch/dist/esm/escape.js
/**
 * Escape all magic characters in a glob pattern.
 *
 * If the {@link MinimatchOptions.windowsPathsNoEscape}
 * option is used, then characters are escaped by wrapping in `[]`, because
 * a magic character wrapped in a character class can only be satisfied by
 * that exact character.  In this mode, `\` is _not_ escaped, because it is
 * not interpreted as a magic character, but instead as a path separator.
 *
 * If the {@link MinimatchOptions.magicalBraces} option is used,
 * then braces (`{` and `}`) will be escaped.
 */
const escape_escape = (s, { windowsPathsNoEscape = false, magicalBraces = false, } = {}) => {
    // don't need to escape +@! because we escape the parens
    // that make those magic, and escaping ! as [!] isn't valid,
    // because [!]] is a valid glob class meaning not ']'.
    if (magicalBraces) {
        return windowsPathsNoEscape ?
            s.replace(/[?*()[\]{}]/g, '[$&]')
            : s.replace(/[?*()[\]\\{}]/g, '\\$&');
    }
    return windowsPathsNoEscape ?
        s.replace(/[?*()[\]]/g, '[$&]')
        : s.replace(/[?*()[\]\\]/g, '\\$&');
};
//# sourceMappingURL=escape.js.map
;// CONCATENATED MODULE: ./node_modules/minimatch/dist/esm/index.js





const minimatch = (p, pattern, options = {}) => {
    assertValidPattern(pattern);
    // shortcut: comments match nothing.
    if (!options.nocomment && pattern.charAt(0) === '#') {
        return false;
    }
    return new Minimatch(pattern, options).match(p);
};
// Optimized checking for the most common glob patterns.
const starDotExtRE = /^\*+([^+@!?*[(]*)$/;
const starDotExtTest = (ext) => (f) => !f.startsWith('.') && f.endsWith(ext);
const starDotExtTestDot = (ext) => (f) => f.endsWith(ext);
const starDotExtTestNocase = (ext) => {
    ext = ext.toLowerCase();
    return (f) => !f.startsWith('.') && f.toLowerCase().endsWith(ext);
};
const starDotExtTestNocaseDot = (ext) => {
    ext = ext.toLowerCase();
    return (f) => f.toLowerCase().endsWith(ext);
};
const starDotStarRE = /^\*+\.\*+$/;
const starDotStarTest = (f) => !f.startsWith('.') && f.includes('.');
const starDotStarTestDot = (f) => f !== '.' && f !== '..' && f.includes('.');
const dotStarRE = /^\.\*+$/;
const dotStarTest = (f) => f !== '.' && f !== '..' && f.startsWith('.');
const starRE = /^\*+$/;
const starTest = (f) => f.length !== 0 && !f.startsWith('.');
const starTestDot = (f) => f.length !== 0 && f !== '.' && f !== '..';
const qmarksRE = /^\?+([^+@!?*[(]*)?$/;
const qmarksTestNocase = ([$0, ext = '']) => {
    const noext = qmarksTestNoExt([$0]);
    if (!ext)
        return noext;
    ext = ext.toLowerCase();
    return (f) => noext(f) && f.toLowerCase().endsWith(ext);
};
const qmarksTestNocaseDot = ([$0, ext = '']) => {
    const noext = qmarksTestNoExtDot([$0]);
    if (!ext)
        return noext;
    ext = ext.toLowerCase();
    return (f) => noext(f) && f.toLowerCase().endsWith(ext);
};
const qmarksTestDot = ([$0, ext = '']) => {
    const noext = qmarksTestNoExtDot([$0]);
    return !ext ? noext : (f) => noext(f) && f.endsWith(ext);
};
const qmarksTest = ([$0, ext = '']) => {
    const noext = qmarksTestNoExt([$0]);
    return !ext ? noext : (f) => noext(f) && f.endsWith(ext);
};
const qmarksTestNoExt = ([$0]) => {
    const len = $0.length;
    return (f) => f.length === len && !f.startsWith('.');
};
const qmarksTestNoExtDot = ([$0]) => {
    const len = $0.length;
    return (f) => f.length === len && f !== '.' && f !== '..';
};
/* c8 ignore start */
const defaultPlatform = (typeof process === 'object' && process ?
    (typeof process.env === 'object' &&
        process.env &&
        process.env.__MINIMATCH_TESTING_PLATFORM__) ||
        process.platform
    : 'posix');
const esm_path = {
    win32: { sep: '\\' },
    posix: { sep: '/' },
};
/* c8 ignore stop */
const sep = defaultPlatform === 'win32' ? esm_path.win32.sep : esm_path.posix.sep;
minimatch.sep = sep;
const GLOBSTAR = Symbol('globstar **');
minimatch.GLOBSTAR = GLOBSTAR;
// any single thing other than /
// don't need to escape / when using new RegExp()
const esm_qmark = '[^/]';
// * => any number of characters
const esm_star = esm_qmark + '*?';
// ** when dots are allowed.  Anything goes, except .. and .
// not (^ or / followed by one or two dots followed by $ or /),
// followed by anything, any number of times.
const twoStarDot = '(?:(?!(?:\\/|^)(?:\\.{1,2})($|\\/)).)*?';
// not a ^ or / followed by a dot,
// followed by anything, any number of times.
const twoStarNoDot = '(?:(?!(?:\\/|^)\\.).)*?';
const filter = (pattern, options = {}) => (p) => minimatch(p, pattern, options);
minimatch.filter = filter;
const ext = (a, b = {}) => Object.assign({}, a, b);
const defaults = (def) => {
    if (!def || typeof def !== 'object' || !Object.keys(def).length) {
        return minimatch;
    }
    const orig = minimatch;
    const m = (p, pattern, options = {}) => orig(p, pattern, ext(def, options));
    return Object.assign(m, {
        Minimatch: class Minimatch extends orig.Minimatch {
            constructor(pattern, options = {}) {
                super(pattern, ext(def, options));
            }
            static defaults(options) {
                return orig.defaults(ext(def, options)).Minimatch;
            }
        },
        AST: class AST extends orig.AST {
            /* c8 ignore start */
            constructor(type, parent, options = {}) {
                super(type, parent, ext(def, options));
            }
            /* c8 ignore stop */
            static fromGlob(pattern, options = {}) {
                return orig.AST.fromGlob(pattern, ext(def, options));
            }
        },
        unescape: (s, options = {}) => orig.unescape(s, ext(def, options)),
        escape: (s, options = {}) => orig.escape(s, ext(def, options)),
        filter: (pattern, options = {}) => orig.filter(pattern, ext(def, options)),
        defaults: (options) => orig.defaults(ext(def, options)),
        makeRe: (pattern, options = {}) => orig.makeRe(pattern, ext(def, options)),
        braceExpand: (pattern, options = {}) => orig.braceExpand(pattern, ext(def, options)),
        match: (list, pattern, options = {}) => orig.match(list, pattern, ext(def, options)),
        sep: orig.sep,
        GLOBSTAR: GLOBSTAR,
    });
};
minimatch.defaults = defaults;
// Brace expansion:
// a{b,c}d -> abd acd
// a{b,}c -> abc ac
// a{0..3}d -> a0d a1d a2d a3d
// a{b,c{d,e}f}g -> abg acdfg acefg
// a{b,c}d{e,f}g -> abdeg acdeg abdeg abdfg
//
// Invalid sets are not expanded.
// a{2..}b -> a{2..}b
// a{b}c -> a{b}c
const braceExpand = (pattern, options = {}) => {
    assertValidPattern(pattern);
    // Thanks to Yeting Li <https://github.com/yetingli> for
    // improving this regexp to avoid a ReDOS vulnerability.
    if (options.nobrace || !/\{(?:(?!\{).)*\}/.test(pattern)) {
        // shortcut. no need to expand.
        return [pattern];
    }
    return expand(pattern, { max: options.braceExpandMax });
};
minimatch.braceExpand = braceExpand;
// parse a component of the expanded set.
// At this point, no pattern may contain "/" in it
// so we're going to return a 2d array, where each entry is the full
// pattern, split on '/', and then turned into a regular expression.
// A regexp is made at the end which joins each array with an
// escaped /, and another full one which joins each regexp with |.
//
// Following the lead of Bash 4.1, note that "**" only has special meaning
// when it is the *only* thing in a path portion.  Otherwise, any series
// of * is equivalent to a single *.  Globstar behavior is enabled by
// default, and can be disabled by setting options.noglobstar.
const makeRe = (pattern, options = {}) => new Minimatch(pattern, options).makeRe();
minimatch.makeRe = makeRe;
const match = (list, pattern, options = {}) => {
    const mm = new Minimatch(pattern, options);
    list = list.filter(f => mm.match(f));
    if (mm.options.nonull && !list.length) {
        list.push(pattern);
    }
    return list;
};
minimatch.match = match;
// replace stuff like \* with *
const globMagic = /[?*]|[+@!]\(.*?\)|\[|\]/;
const esm_regExpEscape = (s) => s.replace(/[-[\]{}()*+?.,\\^$|#\s]/g, '\\$&');
class Minimatch {
    options;
    set;
    pattern;
    windowsPathsNoEscape;
    nonegate;
    negate;
    comment;
    empty;
    preserveMultipleSlashes;
    partial;
    globSet;
    globParts;
    nocase;
    isWindows;
    platform;
    windowsNoMagicRoot;
    maxGlobstarRecursion;
    regexp;
    constructor(pattern, options = {}) {
        assertValidPattern(pattern);
        options = options || {};
        this.options = options;
        this.maxGlobstarRecursion = options.maxGlobstarRecursion ?? 200;
        this.pattern = pattern;
        this.platform = options.platform || defaultPlatform;
        this.isWindows = this.platform === 'win32';
        // avoid the annoying deprecation flag lol
        const awe = ('allowWindow' + 'sEscape');
        this.windowsPathsNoEscape =
            !!options.windowsPathsNoEscape || options[awe] === false;
        if (this.windowsPathsNoEscape) {
            this.pattern = this.pattern.replace(/\\/g, '/');
        }
        this.preserveMultipleSlashes = !!options.preserveMultipleSlashes;
        this.regexp = null;
        this.negate = false;
        this.nonegate = !!options.nonegate;
        this.comment = false;
        this.empty = false;
        this.partial = !!options.partial;
        this.nocase = !!this.options.nocase;
        this.windowsNoMagicRoot =
            options.windowsNoMagicRoot !== undefined ?
                options.windowsNoMagicRoot
                : !!(this.isWindows && this.nocase);
        this.globSet = [];
        this.globParts = [];
        this.set = [];
        // make the set of regexps etc.
        this.make();
    }
    hasMagic() {
        if (this.options.magicalBraces && this.set.length > 1) {
            return true;
        }
        for (const pattern of this.set) {
            for (const part of pattern) {
                if (typeof part !== 'string')
                    return true;
            }
        }
        return false;
    }
    debug(..._) { }
    make() {
        const pattern = this.pattern;
        const options = this.options;
        // empty patterns and comments match nothing.
        if (!options.nocomment && pattern.charAt(0) === '#') {
            this.comment = true;
            return;
        }
        if (!pattern) {
            this.empty = true;
            return;
        }
        // step 1: figure out negation, etc.
        this.parseNegate();
        // step 2: expand braces
        this.globSet = [...new Set(this.braceExpand())];
        if (options.debug) {
            //oxlint-disable-next-line no-console
            this.debug = (...args) => console.error(...args);
        }
        this.debug(this.pattern, this.globSet);
        // step 3: now we have a set, so turn each one into a series of
        // path-portion matching patterns.
        // These will be regexps, except in the case of "**", which is
        // set to the GLOBSTAR object for globstar behavior,
        // and will not contain any / characters
        //
        // First, we preprocess to make the glob pattern sets a bit simpler
        // and deduped.  There are some perf-killing patterns that can cause
        // problems with a glob walk, but we can simplify them down a bit.
        const rawGlobParts = this.globSet.map(s => this.slashSplit(s));
        this.globParts = this.preprocess(rawGlobParts);
        this.debug(this.pattern, this.globParts);
        // glob --> regexps
        let set = this.globParts.map((s, _, __) => {
            if (this.isWindows && this.windowsNoMagicRoot) {
                // check if it's a drive or unc path.
                const isUNC = s[0] === '' &&
                    s[1] === '' &&
                    (s[2] === '?' || !globMagic.test(s[2])) &&
                    !globMagic.test(s[3]);
                const isDrive = /^[a-z]:/i.test(s[0]);
                if (isUNC) {
                    return [
                        ...s.slice(0, 4),
                        ...s.slice(4).map(ss => this.parse(ss)),
                    ];
                }
                else if (isDrive) {
                    return [s[0], ...s.slice(1).map(ss => this.parse(ss))];
                }
            }
            return s.map(ss => this.parse(ss));
        });
        this.debug(this.pattern, set);
        // filter out everything that didn't compile properly.
        this.set = set.filter(s => s.indexOf(false) === -1);
        // do not treat the ? in UNC paths as magic
        if (this.isWindows) {
            for (let i = 0; i < this.set.length; i++) {
                const p = this.set[i];
                if (p[0] === '' &&
                    p[1] === '' &&
                    this.globParts[i][2] === '?' &&
                    typeof p[3] === 'string' &&
                    /^[a-z]:$/i.test(p[3])) {
                    p[2] = '?';
                }
            }
        }
        this.debug(this.pattern, this.set);
    }
    // various transforms to equivalent pattern sets that are
    // faster to process in a filesystem walk.  The goal is to
    // eliminate what we can, and push all ** patterns as far
    // to the right as possible, even if it increases the number
    // of patterns that we have to process.
    preprocess(globParts) {
        // if we're not in globstar mode, then turn ** into *
        if (this.options.noglobstar) {
            for (const partset of globParts) {
                for (let j = 0; j < partset.length; j++) {
                    if (partset[j] === '**') {
                        partset[j] = '*';
                    }
                }
            }
        }
        const { optimizationLevel = 1 } = this.options;
        if (optimizationLevel >= 2) {
            // aggressive optimization for the purpose of fs walking
            globParts = this.firstPhasePreProcess(globParts);
            globParts = this.secondPhasePreProcess(globParts);
        }
        else if (optimizationLevel >= 1) {
            // just basic optimizations to remove some .. parts
            globParts = this.levelOneOptimize(globParts);
        }
        else {
            // just collapse multiple ** portions into one
            globParts = this.adjascentGlobstarOptimize(globParts);
        }
        return globParts;
    }
    // just get rid of adjascent ** portions
    adjascentGlobstarOptimize(globParts) {
        return globParts.map(parts => {
            let gs = -1;
            while (-1 !== (gs = parts.indexOf('**', gs + 1))) {
                let i = gs;
                while (parts[i + 1] === '**') {
                    i++;
                }
                if (i !== gs) {
                    parts.splice(gs, i - gs);
                }
            }
            return parts;
        });
    }
    // get rid of adjascent ** and resolve .. portions
    levelOneOptimize(globParts) {
        return globParts.map(parts => {
            parts = parts.reduce((set, part) => {
                const prev = set[set.length - 1];
                if (part === '**' && prev === '**') {
                    return set;
                }
                if (part === '..') {
                    if (prev && prev !== '..' && prev !== '.' && prev !== '**') {
                        set.pop();
                        return set;
                    }
                }
                set.push(part);
                return set;
            }, []);
            return parts.length === 0 ? [''] : parts;
        });
    }
    levelTwoFileOptimize(parts) {
        if (!Array.isArray(parts)) {
            parts = this.slashSplit(parts);
        }
        let didSomething = false;
        do {
            didSomething = false;
            // <pre>/<e>/<rest> -> <pre>/<rest>
            if (!this.preserveMultipleSlashes) {
                for (let i = 1; i < parts.length - 1; i++) {
                    const p = parts[i];
                    // don't squeeze out UNC patterns
                    if (i === 1 && p === '' && parts[0] === '')
                        continue;
                    if (p === '.' || p === '') {
                        didSomething = true;
                        parts.splice(i, 1);
                        i--;
                    }
                }
                if (parts[0] === '.' &&
                    parts.length === 2 &&
                    (parts[1] === '.' || parts[1] === '')) {
                    didSomething = true;
                    parts.pop();
                }
            }
            // <pre>/<p>/../<rest> -> <pre>/<rest>
            let dd = 0;
            while (-1 !== (dd = parts.indexOf('..', dd + 1))) {
                const p = parts[dd - 1];
                if (p &&
                    p !== '.' &&
                    p !== '..' &&
                    p !== '**' &&
                    !(this.isWindows && /^[a-z]:$/i.test(p))) {
                    didSomething = true;
                    parts.splice(dd - 1, 2);
                    dd -= 2;
                }
            }
        } while (didSomething);
        return parts.length === 0 ? [''] : parts;
    }
    // First phase: single-pattern processing
    // <pre> is 1 or more portions
    // <rest> is 1 or more portions
    // <p> is any portion other than ., .., '', or **
    // <e> is . or ''
    //
    // **/.. is *brutal* for filesystem walking performance, because
    // it effectively resets the recursive walk each time it occurs,
    // and ** cannot be reduced out by a .. pattern part like a regexp
    // or most strings (other than .., ., and '') can be.
    //
    // <pre>/**/../<p>/<p>/<rest> -> {<pre>/../<p>/<p>/<rest>,<pre>/**/<p>/<p>/<rest>}
    // <pre>/<e>/<rest> -> <pre>/<rest>
    // <pre>/<p>/../<rest> -> <pre>/<rest>
    // **/**/<rest> -> **/<rest>
    //
    // **/*/<rest> -> */**/<rest> <== not valid because ** doesn't follow
    // this WOULD be allowed if ** did follow symlinks, or * didn't
    firstPhasePreProcess(globParts) {
        let didSomething = false;
        do {
            didSomething = false;
            // <pre>/**/../<p>/<p>/<rest> -> {<pre>/../<p>/<p>/<rest>,<pre>/**/<p>/<p>/<rest>}
            for (let parts of globParts) {
                let gs = -1;
                while (-1 !== (gs = parts.indexOf('**', gs + 1))) {
                    let gss = gs;
                    while (parts[gss + 1] === '**') {
                        // <pre>/**/**/<rest> -> <pre>/**/<rest>
                        gss++;
                    }
                    // eg, if gs is 2 and gss is 4, that means we have 3 **
                    // parts, and can remove 2 of them.
                    if (gss > gs) {
                        parts.splice(gs + 1, gss - gs);
                    }
                    let next = parts[gs + 1];
                    const p = parts[gs + 2];
                    const p2 = parts[gs + 3];
                    if (next !== '..')
                        continue;
                    if (!p ||
                        p === '.' ||
                        p === '..' ||
                        !p2 ||
                        p2 === '.' ||
                        p2 === '..') {
                        continue;
                    }
                    didSomething = true;
                    // edit parts in place, and push the new one
                    parts.splice(gs, 1);
                    const other = parts.slice(0);
                    other[gs] = '**';
                    globParts.push(other);
                    gs--;
                }
                // <pre>/<e>/<rest> -> <pre>/<rest>
                if (!this.preserveMultipleSlashes) {
                    for (let i = 1; i < parts.length - 1; i++) {
                        const p = parts[i];
                        // don't squeeze out UNC patterns
                        if (i === 1 && p === '' && parts[0] === '')
                            continue;
                        if (p === '.' || p === '') {
                            didSomething = true;
                            parts.splice(i, 1);
                            i--;
                        }
                    }
                    if (parts[0] === '.' &&
                        parts.length === 2 &&
                        (parts[1] === '.' || parts[1] === '')) {
                        didSomething = true;
                        parts.pop();
                    }
                }
                // <pre>/<p>/../<rest> -> <pre>/<rest>
                let dd = 0;
                while (-1 !== (dd = parts.indexOf('..', dd + 1))) {
                    const p = parts[dd - 1];
                    if (p && p !== '.' && p !== '..' && p !== '**') {
                        didSomething = true;
                        const needDot = dd === 1 && parts[dd + 1] === '**';
                        const splin = needDot ? ['.'] : [];
                        parts.splice(dd - 1, 2, ...splin);
                        if (parts.length === 0)
                            parts.push('');
                        dd -= 2;
                    }
                }
            }
        } while (didSomething);
        return globParts;
    }
    // second phase: multi-pattern dedupes
    // {<pre>/*/<rest>,<pre>/<p>/<rest>} -> <pre>/*/<rest>
    // {<pre>/<rest>,<pre>/<rest>} -> <pre>/<rest>
    // {<pre>/**/<rest>,<pre>/<rest>} -> <pre>/**/<rest>
    //
    // {<pre>/**/<rest>,<pre>/**/<p>/<rest>} -> <pre>/**/<rest>
    // ^-- not valid because ** doens't follow symlinks
    secondPhasePreProcess(globParts) {
        for (let i = 0; i < globParts.length - 1; i++) {
            for (let j = i + 1; j < globParts.length; j++) {
                const matched = this.partsMatch(globParts[i], globParts[j], !this.preserveMultipleSlashes);
                if (matched) {
                    globParts[i] = [];
                    globParts[j] = matched;
                    break;
                }
            }
        }
        return globParts.filter(gs => gs.length);
    }
    partsMatch(a, b, emptyGSMatch = false) {
        let ai = 0;
        let bi = 0;
        let result = [];
        let which = '';
        while (ai < a.length && bi < b.length) {
            if (a[ai] === b[bi]) {
                result.push(which === 'b' ? b[bi] : a[ai]);
                ai++;
                bi++;
            }
            else if (emptyGSMatch && a[ai] === '**' && b[bi] === a[ai + 1]) {
                result.push(a[ai]);
                ai++;
            }
            else if (emptyGSMatch && b[bi] === '**' && a[ai] === b[bi + 1]) {
                result.push(b[bi]);
                bi++;
            }
            else if (a[ai] === '*' &&
                b[bi] &&
                (this.options.dot || !b[bi].startsWith('.')) &&
                b[bi] !== '**') {
                if (which === 'b')
                    return false;
                which = 'a';
                result.push(a[ai]);
                ai++;
                bi++;
            }
            else if (b[bi] === '*' &&
                a[ai] &&
                (this.options.dot || !a[ai].startsWith('.')) &&
                a[ai] !== '**') {
                if (which === 'a')
                    return false;
                which = 'b';
                result.push(b[bi]);
                ai++;
                bi++;
            }
            else {
                return false;
            }
        }
        // if we fall out of the loop, it means they two are identical
        // as long as their lengths match
        return a.length === b.length && result;
    }
    parseNegate() {
        if (this.nonegate)
            return;
        const pattern = this.pattern;
        let negate = false;
        let negateOffset = 0;
        for (let i = 0; i < pattern.length && pattern.charAt(i) === '!'; i++) {
            negate = !negate;
            negateOffset++;
        }
        if (negateOffset)
            this.pattern = pattern.slice(negateOffset);
        this.negate = negate;
    }
    // set partial to true to test if, for example,
    // "/a/b" matches the start of "/*/b/*/d"
    // Partial means, if you run out of file before you run
    // out of pattern, then that's fine, as long as all
    // the parts match.
    matchOne(file, pattern, partial = false) {
        let fileStartIndex = 0;
        let patternStartIndex = 0;
        // UNC paths like //?/X:/... can match X:/... and vice versa
        // Drive letters in absolute drive or unc paths are always compared
        // case-insensitively.
        if (this.isWindows) {
            const fileDrive = typeof file[0] === 'string' && /^[a-z]:$/i.test(file[0]);
            const fileUNC = !fileDrive &&
                file[0] === '' &&
                file[1] === '' &&
                file[2] === '?' &&
                /^[a-z]:$/i.test(file[3]);
            const patternDrive = typeof pattern[0] === 'string' && /^[a-z]:$/i.test(pattern[0]);
            const patternUNC = !patternDrive &&
                pattern[0] === '' &&
                pattern[1] === '' &&
                pattern[2] === '?' &&
                typeof pattern[3] === 'string' &&
                /^[a-z]:$/i.test(pattern[3]);
            const fdi = fileUNC ? 3
                : fileDrive ? 0
                    : undefined;
            const pdi = patternUNC ? 3
                : patternDrive ? 0
                    : undefined;
            if (typeof fdi === 'number' && typeof pdi === 'number') {
                const [fd, pd] = [
                    file[fdi],
                    pattern[pdi],
                ];
                // start matching at the drive letter index of each
                if (fd.toLowerCase() === pd.toLowerCase()) {
                    pattern[pdi] = fd;
                    patternStartIndex = pdi;
                    fileStartIndex = fdi;
                }
            }
        }
        // resolve and reduce . and .. portions in the file as well.
        // don't need to do the second phase, because it's only one string[]
        const { optimizationLevel = 1 } = this.options;
        if (optimizationLevel >= 2) {
            file = this.levelTwoFileOptimize(file);
        }
        if (pattern.includes(GLOBSTAR)) {
            return this.#matchGlobstar(file, pattern, partial, fileStartIndex, patternStartIndex);
        }
        return this.#matchOne(file, pattern, partial, fileStartIndex, patternStartIndex);
    }
    #matchGlobstar(file, pattern, partial, fileIndex, patternIndex) {
        // split the pattern into head, tail, and middle of ** delimited parts
        const firstgs = pattern.indexOf(GLOBSTAR, patternIndex);
        const lastgs = pattern.lastIndexOf(GLOBSTAR);
        // split the pattern up into globstar-delimited sections
        // the tail has to be at the end, and the others just have
        // to be found in order from the head.
        const [head, body, tail] = partial ?
            [
                pattern.slice(patternIndex, firstgs),
                pattern.slice(firstgs + 1),
                [],
            ]
            : [
                pattern.slice(patternIndex, firstgs),
                pattern.slice(firstgs + 1, lastgs),
                pattern.slice(lastgs + 1),
            ];
        // check the head, from the current file/pattern index.
        if (head.length) {
            const fileHead = file.slice(fileIndex, fileIndex + head.length);
            if (!this.#matchOne(fileHead, head, partial, 0, 0)) {
                return false;
            }
            fileIndex += head.length;
            patternIndex += head.length;
        }
        // now we know the head matches!
        // if the last portion is not empty, it MUST match the end
        // check the tail
        let fileTailMatch = 0;
        if (tail.length) {
            // if head + tail > file, then we cannot possibly match
            if (tail.length + fileIndex > file.length)
                return false;
            // try to match the tail
            let tailStart = file.length - tail.length;
            if (this.#matchOne(file, tail, partial, tailStart, 0)) {
                fileTailMatch = tail.length;
            }
            else {
                // affordance for stuff like a/**/* matching a/b/
                // if the last file portion is '', and there's more to the pattern
                // then try without the '' bit.
                if (file[file.length - 1] !== '' ||
                    fileIndex + tail.length === file.length) {
                    return false;
                }
                tailStart--;
                if (!this.#matchOne(file, tail, partial, tailStart, 0)) {
                    return false;
                }
                fileTailMatch = tail.length + 1;
            }
        }
        // now we know the tail matches!
        // the middle is zero or more portions wrapped in **, possibly
        // containing more ** sections.
        // so a/**/b/**/c/**/d has become **/b/**/c/**
        // if it's empty, it means a/**/b, just verify we have no bad dots
        // if there's no tail, so it ends on /**, then we must have *something*
        // after the head, or it's not a matc
        if (!body.length) {
            let sawSome = !!fileTailMatch;
            for (let i = fileIndex; i < file.length - fileTailMatch; i++) {
                const f = String(file[i]);
                sawSome = true;
                if (f === '.' ||
                    f === '..' ||
                    (!this.options.dot && f.startsWith('.'))) {
                    return false;
                }
            }
            // in partial mode, we just need to get past all file parts
            return partial || sawSome;
        }
        // now we know that there's one or more body sections, which can
        // be matched anywhere from the 0 index (because the head was pruned)
        // through to the length-fileTailMatch index.
        // split the body up into sections, and note the minimum index it can
        // be found at (start with the length of all previous segments)
        // [section, before, after]
        const bodySegments = [[[], 0]];
        let currentBody = bodySegments[0];
        let nonGsParts = 0;
        const nonGsPartsSums = [0];
        for (const b of body) {
            if (b === GLOBSTAR) {
                nonGsPartsSums.push(nonGsParts);
                currentBody = [[], 0];
                bodySegments.push(currentBody);
            }
            else {
                currentBody[0].push(b);
                nonGsParts++;
            }
        }
        let i = bodySegments.length - 1;
        const fileLength = file.length - fileTailMatch;
        for (const b of bodySegments) {
            b[1] = fileLength - (nonGsPartsSums[i--] + b[0].length);
        }
        return !!this.#matchGlobStarBodySections(file, bodySegments, fileIndex, 0, partial, 0, !!fileTailMatch);
    }
    // return false for "nope, not matching"
    // return null for "not matching, cannot keep trying"
    #matchGlobStarBodySections(file, 
    // pattern section, last possible position for it
    bodySegments, fileIndex, bodyIndex, partial, globStarDepth, sawTail) {
        // take the first body segment, and walk from fileIndex to its "after"
        // value at the end
        // If it doesn't match at that position, we increment, until we hit
        // that final possible position, and give up.
        // If it does match, then advance and try to rest.
        // If any of them fail we keep walking forward.
        // this is still a bit recursively painful, but it's more constrained
        // than previous implementations, because we never test something that
        // can't possibly be a valid matching condition.
        const bs = bodySegments[bodyIndex];
        if (!bs) {
            // just make sure that there's no bad dots
            for (let i = fileIndex; i < file.length; i++) {
                sawTail = true;
                const f = file[i];
                if (f === '.' ||
                    f === '..' ||
                    (!this.options.dot && f.startsWith('.'))) {
                    return false;
                }
            }
            return sawTail;
        }
        // have a non-globstar body section to test
        const [body, after] = bs;
        while (fileIndex <= after) {
            const m = this.#matchOne(file.slice(0, fileIndex + body.length), body, partial, fileIndex, 0);
            // if limit exceeded, no match. intentional false negative,
            // acceptable break in correctness for security.
            if (m && globStarDepth < this.maxGlobstarRecursion) {
                // match! see if the rest match. if so, we're done!
                const sub = this.#matchGlobStarBodySections(file, bodySegments, fileIndex + body.length, bodyIndex + 1, partial, globStarDepth + 1, sawTail);
                if (sub !== false) {
                    return sub;
                }
            }
            const f = file[fileIndex];
            if (f === '.' ||
                f === '..' ||
                (!this.options.dot && f.startsWith('.'))) {
                return false;
            }
            fileIndex++;
        }
        // walked off. no point continuing
        return partial || null;
    }
    #matchOne(file, pattern, partial, fileIndex, patternIndex) {
        let fi;
        let pi;
        let pl;
        let fl;
        for (fi = fileIndex,
            pi = patternIndex,
            fl = file.length,
            pl = pattern.length; fi < fl && pi < pl; fi++, pi++) {
            this.debug('matchOne loop');
            let p = pattern[pi];
            let f = file[fi];
            this.debug(pattern, p, f);
            // should be impossible.
            // some invalid regexp stuff in the set.
            /* c8 ignore start */
            if (p === false || p === GLOBSTAR) {
                return false;
            }
            /* c8 ignore stop */
            // something other than **
            // non-magic patterns just have to match exactly
            // patterns with magic have been turned into regexps.
            let hit;
            if (typeof p === 'string') {
                hit = f === p;
                this.debug('string match', p, f, hit);
            }
            else {
                hit = p.test(f);
                this.debug('pattern match', p, f, hit);
            }
            if (!hit)
                return false;
        }
        // Note: ending in / means that we'll get a final ""
        // at the end of the pattern.  This can only match a
        // corresponding "" at the end of the file.
        // If the file ends in /, then it can only match a
        // a pattern that ends in /, unless the pattern just
        // doesn't have any more for it. But, a/b/ should *not*
        // match "a/b/*", even though "" matches against the
        // [^/]*? pattern, except in partial mode, where it might
        // simply not be reached yet.
        // However, a/b/ should still satisfy a/*
        // now either we fell off the end of the pattern, or we're done.
        if (fi === fl && pi === pl) {
            // ran out of pattern and filename at the same time.
            // an exact hit!
            return true;
        }
        else if (fi === fl) {
            // ran out of file, but still had pattern left.
            // this is ok if we're doing the match as part of
            // a glob fs traversal.
            return partial;
        }
        else if (pi === pl) {
            // ran out of pattern, still have file left.
            // this is only acceptable if we're on the very last
            // empty segment of a file with a trailing slash.
            // a/* should match a/b/
            return fi === fl - 1 && file[fi] === '';
            /* c8 ignore start */
        }
        else {
            // should be unreachable.
            throw new Error('wtf?');
        }
        /* c8 ignore stop */
    }
    braceExpand() {
        return braceExpand(this.pattern, this.options);
    }
    parse(pattern) {
        assertValidPattern(pattern);
        const options = this.options;
        // shortcuts
        if (pattern === '**')
            return GLOBSTAR;
        if (pattern === '')
            return '';
        // far and away, the most common glob pattern parts are
        // *, *.*, and *.<ext>  Add a fast check method for those.
        let m;
        let fastTest = null;
        if ((m = pattern.match(starRE))) {
            fastTest = options.dot ? starTestDot : starTest;
        }
        else if ((m = pattern.match(starDotExtRE))) {
            fastTest = (options.nocase ?
                options.dot ?
                    starDotExtTestNocaseDot
                    : starDotExtTestNocase
                : options.dot ? starDotExtTestDot
                    : starDotExtTest)(m[1]);
        }
        else if ((m = pattern.match(qmarksRE))) {
            fastTest = (options.nocase ?
                options.dot ?
                    qmarksTestNocaseDot
                    : qmarksTestNocase
                : options.dot ? qmarksTestDot
                    : qmarksTest)(m);
        }
        else if ((m = pattern.match(starDotStarRE))) {
            fastTest = options.dot ? starDotStarTestDot : starDotStarTest;
        }
        else if ((m = pattern.match(dotStarRE))) {
            fastTest = dotStarTest;
        }
        const re = AST.fromGlob(pattern, this.options).toMMPattern();
        if (fastTest && typeof re === 'object') {
            // Avoids overriding in frozen environments
            Reflect.defineProperty(re, 'test', { value: fastTest });
        }
        return re;
    }
    makeRe() {
        if (this.regexp || this.regexp === false)
            return this.regexp;
        // at this point, this.set is a 2d array of partial
        // pattern strings, or "**".
        //
        // It's better to use .match().  This function shouldn't
        // be used, really, but it's pretty convenient sometimes,
        // when you just want to work with a regex.
        const set = this.set;
        if (!set.length) {
            this.regexp = false;
            return this.regexp;
        }
        const options = this.options;
        const twoStar = options.noglobstar ? esm_star
            : options.dot ? twoStarDot
                : twoStarNoDot;
        const flags = new Set(options.nocase ? ['i'] : []);
        // regexpify non-globstar patterns
        // if ** is only item, then we just do one twoStar
        // if ** is first, and there are more, prepend (\/|twoStar\/)? to next
        // if ** is last, append (\/twoStar|) to previous
        // if ** is in the middle, append (\/|\/twoStar\/) to previous
        // then filter out GLOBSTAR symbols
        let re = set
            .map(pattern => {
            const pp = pattern.map(p => {
                if (p instanceof RegExp) {
                    for (const f of p.flags.split(''))
                        flags.add(f);
                }
                return (typeof p === 'string' ? esm_regExpEscape(p)
                    : p === GLOBSTAR ? GLOBSTAR
                        : p._src);
            });
            pp.forEach((p, i) => {
                const next = pp[i + 1];
                const prev = pp[i - 1];
                if (p !== GLOBSTAR || prev === GLOBSTAR) {
                    return;
                }
                if (prev === undefined) {
                    if (next !== undefined && next !== GLOBSTAR) {
                        pp[i + 1] = '(?:\\/|' + twoStar + '\\/)?' + next;
                    }
                    else {
                        pp[i] = twoStar;
                    }
                }
                else if (next === undefined) {
                    pp[i - 1] = prev + '(?:\\/|\\/' + twoStar + ')?';
                }
                else if (next !== GLOBSTAR) {
                    pp[i - 1] = prev + '(?:\\/|\\/' + twoStar + '\\/)' + next;
                    pp[i + 1] = GLOBSTAR;
                }
            });
            const filtered = pp.filter(p => p !== GLOBSTAR);
            // For partial matches, we need to make the pattern match
            // any prefix of the full path. We do this by generating
            // alternative patterns that match progressively longer prefixes.
            if (this.partial && filtered.length >= 1) {
                const prefixes = [];
                for (let i = 1; i <= filtered.length; i++) {
                    prefixes.push(filtered.slice(0, i).join('/'));
                }
                return '(?:' + prefixes.join('|') + ')';
            }
            return filtered.join('/');
        })
            .join('|');
        // need to wrap in parens if we had more than one thing with |,
        // otherwise only the first will be anchored to ^ and the last to $
        const [open, close] = set.length > 1 ? ['(?:', ')'] : ['', ''];
        // must match entire pattern
        // ending in a * or ** will make it less strict.
        re = '^' + open + re + close + '$';
        // In partial mode, '/' should always match as it's a valid prefix for any pattern
        if (this.partial) {
            re = '^(?:\\/|' + open + re.slice(1, -1) + close + ')$';
        }
        // can match anything, as long as it's not this.
        if (this.negate)
            re = '^(?!' + re + ').+$';
        try {
            this.regexp = new RegExp(re, [...flags].join(''));
            /* c8 ignore start */
        }
        catch {
            // should be impossible
            this.regexp = false;
        }
        /* c8 ignore stop */
        return this.regexp;
    }
    slashSplit(p) {
        // if p starts with // on windows, we preserve that
        // so that UNC paths aren't broken.  Otherwise, any number of
        // / characters are coalesced into one, unless
        // preserveMultipleSlashes is set to true.
        if (this.preserveMultipleSlashes) {
            return p.split('/');
        }
        else if (this.isWindows && /^\/\/[^/]+/.test(p)) {
            // add an extra '' for the one we lose
            return ['', ...p.split(/\/+/)];
        }
        else {
            return p.split(/\/+/);
        }
    }
    match(f, partial = this.partial) {
        this.debug('match', f, this.pattern);
        // short-circuit in the case of busted things.
        // comments, etc.
        if (this.comment) {
            return false;
        }
        if (this.empty) {
            return f === '';
        }
        if (f === '/' && partial) {
            return true;
        }
        const options = this.options;
        // windows: need to use /, not \
        if (this.isWindows) {
            f = f.split('\\').join('/');
        }
        // treat the test path as a set of pathparts.
        const ff = this.slashSplit(f);
        this.debug(this.pattern, 'split', ff);
        // just ONE of the pattern sets in this.set needs to match
        // in order for it to be valid.  If negating, then just one
        // match means that we have failed.
        // Either way, return on the first hit.
        const set = this.set;
        this.debug(this.pattern, 'set', set);
        // Find the basename of the path by looking for the last non-empty segment
        let filename = ff[ff.length - 1];
        if (!filename) {
            for (let i = ff.length - 2; !filename && i >= 0; i--) {
                filename = ff[i];
            }
        }
        for (const pattern of set) {
            let file = ff;
            if (options.matchBase && pattern.length === 1) {
                file = [filename];
            }
            const hit = this.matchOne(file, pattern, partial);
            if (hit) {
                if (options.flipNegate) {
                    return true;
                }
                return !this.negate;
            }
        }
        // didn't get any hits.  this is success if it's a negative
        // pattern, failure otherwise.
        if (options.flipNegate) {
            return false;
        }
        return this.negate;
    }
    static defaults(def) {
        return minimatch.defaults(def).Minimatch;
    }
}
/* c8 ignore start */



/* c8 ignore stop */
minimatch.AST = AST;
minimatch.Minimatch = Minimatch;
minimatch.escape = escape_escape;
minimatch.unescape = unescape_unescape;
//# sourceMappingURL=index.js.map
;// CONCATENATED MODULE: ./node_modules/@actions/glob/lib/internal-path.js



const internal_path_IS_WINDOWS = process.platform === 'win32';
/**
 * Helper class for parsing paths into segments
 */
class Path {
    /**
     * Constructs a Path
     * @param itemPath Path or array of segments
     */
    constructor(itemPath) {
        this.segments = [];
        // String
        if (typeof itemPath === 'string') {
            external_assert_(itemPath, `Parameter 'itemPath' must not be empty`);
            // Normalize slashes and trim unnecessary trailing slash
            itemPath = safeTrimTrailingSeparator(itemPath);
            // Not rooted
            if (!hasRoot(itemPath)) {
                this.segments = itemPath.split(external_path_namespaceObject.sep);
            }
            // Rooted
            else {
                // Add all segments, while not at the root
                let remaining = itemPath;
                let dir = dirname(remaining);
                while (dir !== remaining) {
                    // Add the segment
                    const basename = external_path_namespaceObject.basename(remaining);
                    this.segments.unshift(basename);
                    // Truncate the last segment
                    remaining = dir;
                    dir = dirname(remaining);
                }
                // Remainder is the root
                this.segments.unshift(remaining);
            }
        }
        // Array
        else {
            // Must not be empty
            external_assert_(itemPath.length > 0, `Parameter 'itemPath' must not be an empty array`);
            // Each segment
            for (let i = 0; i < itemPath.length; i++) {
                let segment = itemPath[i];
                // Must not be empty
                external_assert_(segment, `Parameter 'itemPath' must not contain any empty segments`);
                // Normalize slashes
                segment = internal_path_helper_normalizeSeparators(itemPath[i]);
                // Root segment
                if (i === 0 && hasRoot(segment)) {
                    segment = safeTrimTrailingSeparator(segment);
                    external_assert_(segment === dirname(segment), `Parameter 'itemPath' root segment contains information for multiple segments`);
                    this.segments.push(segment);
                }
                // All other segments
                else {
                    // Must not contain slash
                    external_assert_(!segment.includes(external_path_namespaceObject.sep), `Parameter 'itemPath' contains unexpected path separators`);
                    this.segments.push(segment);
                }
            }
        }
    }
    /**
     * Converts the path to it's string representation
     */
    toString() {
        // First segment
        let result = this.segments[0];
        // All others
        let skipSlash = result.endsWith(external_path_namespaceObject.sep) || (internal_path_IS_WINDOWS && /^[A-Z]:$/i.test(result));
        for (let i = 1; i < this.segments.length; i++) {
            if (skipSlash) {
                skipSlash = false;
            }
            else {
                result += external_path_namespaceObject.sep;
            }
            result += this.segments[i];
        }
        return result;
    }
}
//# sourceMappingURL=internal-path.js.map
;// CONCATENATED MODULE: ./node_modules/@actions/glob/lib/internal-pattern.js







const internal_pattern_IS_WINDOWS = process.platform === 'win32';
class Pattern {
    constructor(patternOrNegate, isImplicitPattern = false, segments, homedir) {
        /**
         * Indicates whether matches should be excluded from the result set
         */
        this.negate = false;
        // Pattern overload
        let pattern;
        if (typeof patternOrNegate === 'string') {
            pattern = patternOrNegate.trim();
        }
        // Segments overload
        else {
            // Convert to pattern
            segments = segments || [];
            external_assert_(segments.length, `Parameter 'segments' must not empty`);
            const root = Pattern.getLiteral(segments[0]);
            external_assert_(root && hasAbsoluteRoot(root), `Parameter 'segments' first element must be a root path`);
            pattern = new Path(segments).toString().trim();
            if (patternOrNegate) {
                pattern = `!${pattern}`;
            }
        }
        // Negate
        while (pattern.startsWith('!')) {
            this.negate = !this.negate;
            pattern = pattern.substr(1).trim();
        }
        // Normalize slashes and ensures absolute root
        pattern = Pattern.fixupPattern(pattern, homedir);
        // Segments
        this.segments = new Path(pattern).segments;
        // Trailing slash indicates the pattern should only match directories, not regular files
        this.trailingSeparator = internal_path_helper_normalizeSeparators(pattern)
            .endsWith(external_path_namespaceObject.sep);
        pattern = safeTrimTrailingSeparator(pattern);
        // Search path (literal path prior to the first glob segment)
        let foundGlob = false;
        const searchSegments = this.segments
            .map(x => Pattern.getLiteral(x))
            .filter(x => !foundGlob && !(foundGlob = x === ''));
        this.searchPath = new Path(searchSegments).toString();
        // Root RegExp (required when determining partial match)
        this.rootRegExp = new RegExp(Pattern.regExpEscape(searchSegments[0]), internal_pattern_IS_WINDOWS ? 'i' : '');
        this.isImplicitPattern = isImplicitPattern;
        // Create minimatch
        const minimatchOptions = {
            dot: true,
            nobrace: true,
            nocase: internal_pattern_IS_WINDOWS,
            nocomment: true,
            noext: true,
            nonegate: true
        };
        pattern = internal_pattern_IS_WINDOWS ? pattern.replace(/\\/g, '/') : pattern;
        this.minimatch = new Minimatch(pattern, minimatchOptions);
    }
    /**
     * Matches the pattern against the specified path
     */
    match(itemPath) {
        // Last segment is globstar?
        if (this.segments[this.segments.length - 1] === '**') {
            // Normalize slashes
            itemPath = internal_path_helper_normalizeSeparators(itemPath);
            // Append a trailing slash. Otherwise Minimatch will not match the directory immediately
            // preceding the globstar. For example, given the pattern `/foo/**`, Minimatch returns
            // false for `/foo` but returns true for `/foo/`. Append a trailing slash to handle that quirk.
            if (!itemPath.endsWith(external_path_namespaceObject.sep) && this.isImplicitPattern === false) {
                // Note, this is safe because the constructor ensures the pattern has an absolute root.
                // For example, formats like C: and C:foo on Windows are resolved to an absolute root.
                itemPath = `${itemPath}${external_path_namespaceObject.sep}`;
            }
        }
        else {
            // Normalize slashes and trim unnecessary trailing slash
            itemPath = safeTrimTrailingSeparator(itemPath);
        }
        // Match
        if (this.minimatch.match(itemPath)) {
            return this.trailingSeparator ? MatchKind.Directory : MatchKind.All;
        }
        return MatchKind.None;
    }
    /**
     * Indicates whether the pattern may match descendants of the specified path
     */
    partialMatch(itemPath) {
        // Normalize slashes and trim unnecessary trailing slash
        itemPath = safeTrimTrailingSeparator(itemPath);
        // matchOne does not handle root path correctly
        if (dirname(itemPath) === itemPath) {
            return this.rootRegExp.test(itemPath);
        }
        return this.minimatch.matchOne(itemPath.split(internal_pattern_IS_WINDOWS ? /\\+/ : /\/+/), this.minimatch.set[0], true);
    }
    /**
     * Escapes glob patterns within a path
     */
    static globEscape(s) {
        return (internal_pattern_IS_WINDOWS ? s : s.replace(/\\/g, '\\\\')) // escape '\' on Linux/macOS
            .replace(/(\[)(?=[^/]+\])/g, '[[]') // escape '[' when ']' follows within the path segment
            .replace(/\?/g, '[?]') // escape '?'
            .replace(/\*/g, '[*]'); // escape '*'
    }
    /**
     * Normalizes slashes and ensures absolute root
     */
    static fixupPattern(pattern, homedir) {
        // Empty
        external_assert_(pattern, 'pattern cannot be empty');
        // Must not contain `.` segment, unless first segment
        // Must not contain `..` segment
        const literalSegments = new Path(pattern).segments.map(x => Pattern.getLiteral(x));
        external_assert_(literalSegments.every((x, i) => (x !== '.' || i === 0) && x !== '..'), `Invalid pattern '${pattern}'. Relative pathing '.' and '..' is not allowed.`);
        // Must not contain globs in root, e.g. Windows UNC path \\foo\b*r
        external_assert_(!hasRoot(pattern) || literalSegments[0], `Invalid pattern '${pattern}'. Root segment must not contain globs.`);
        // Normalize slashes
        pattern = internal_path_helper_normalizeSeparators(pattern);
        // Replace leading `.` segment
        if (pattern === '.' || pattern.startsWith(`.${external_path_namespaceObject.sep}`)) {
            pattern = Pattern.globEscape(process.cwd()) + pattern.substr(1);
        }
        // Replace leading `~` segment
        else if (pattern === '~' || pattern.startsWith(`~${external_path_namespaceObject.sep}`)) {
            homedir = homedir || external_os_.homedir();
            external_assert_(homedir, 'Unable to determine HOME directory');
            external_assert_(hasAbsoluteRoot(homedir), `Expected HOME directory to be a rooted path. Actual '${homedir}'`);
            pattern = Pattern.globEscape(homedir) + pattern.substr(1);
        }
        // Replace relative drive root, e.g. pattern is C: or C:foo
        else if (internal_pattern_IS_WINDOWS &&
            (pattern.match(/^[A-Z]:$/i) || pattern.match(/^[A-Z]:[^\\]/i))) {
            let root = ensureAbsoluteRoot('C:\\dummy-root', pattern.substr(0, 2));
            if (pattern.length > 2 && !root.endsWith('\\')) {
                root += '\\';
            }
            pattern = Pattern.globEscape(root) + pattern.substr(2);
        }
        // Replace relative root, e.g. pattern is \ or \foo
        else if (internal_pattern_IS_WINDOWS && (pattern === '\\' || pattern.match(/^\\[^\\]/))) {
            let root = ensureAbsoluteRoot('C:\\dummy-root', '\\');
            if (!root.endsWith('\\')) {
                root += '\\';
            }
            pattern = Pattern.globEscape(root) + pattern.substr(1);
        }
        // Otherwise ensure absolute root
        else {
            pattern = ensureAbsoluteRoot(Pattern.globEscape(process.cwd()), pattern);
        }
        return internal_path_helper_normalizeSeparators(pattern);
    }
    /**
     * Attempts to unescape a pattern segment to create a literal path segment.
     * Otherwise returns empty string.
     */
    static getLiteral(segment) {
        let literal = '';
        for (let i = 0; i < segment.length; i++) {
            const c = segment[i];
            // Escape
            if (c === '\\' && !internal_pattern_IS_WINDOWS && i + 1 < segment.length) {
                literal += segment[++i];
                continue;
            }
            // Wildcard
            else if (c === '*' || c === '?') {
                return '';
            }
            // Character set
            else if (c === '[' && i + 1 < segment.length) {
                let set = '';
                let closed = -1;
                for (let i2 = i + 1; i2 < segment.length; i2++) {
                    const c2 = segment[i2];
                    // Escape
                    if (c2 === '\\' && !internal_pattern_IS_WINDOWS && i2 + 1 < segment.length) {
                        set += segment[++i2];
                        continue;
                    }
                    // Closed
                    else if (c2 === ']') {
                        closed = i2;
                        break;
                    }
                    // Otherwise
                    else {
                        set += c2;
                    }
                }
                // Closed?
                if (closed >= 0) {
                    // Cannot convert
                    if (set.length > 1) {
                        return '';
                    }
                    // Convert to literal
                    if (set) {
                        literal += set;
                        i = closed;
                        continue;
                    }
                }
                // Otherwise fall thru
            }
            // Append
            literal += c;
        }
        return literal;
    }
    /**
     * Escapes regexp special characters
     * https://javascript.info/regexp-escaping
     */
    static regExpEscape(s) {
        return s.replace(/[[\\^$.|?*+()]/g, '\\$&');
    }
}
//# sourceMappingURL=internal-pattern.js.map
;// CONCATENATED MODULE: ./node_modules/@actions/glob/lib/internal-search-state.js
class SearchState {
    constructor(path, level) {
        this.path = path;
        this.level = level;
    }
}
//# sourceMappingURL=internal-search-state.js.map
;// CONCATENATED MODULE: ./node_modules/@actions/glob/lib/internal-globber.js
var internal_globber_awaiter = (undefined && undefined.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};
var __asyncValues = (undefined && undefined.__asyncValues) || function (o) {
    if (!Symbol.asyncIterator) throw new TypeError("Symbol.asyncIterator is not defined.");
    var m = o[Symbol.asyncIterator], i;
    return m ? m.call(o) : (o = typeof __values === "function" ? __values(o) : o[Symbol.iterator](), i = {}, verb("next"), verb("throw"), verb("return"), i[Symbol.asyncIterator] = function () { return this; }, i);
    function verb(n) { i[n] = o[n] && function (v) { return new Promise(function (resolve, reject) { v = o[n](v), settle(resolve, reject, v.done, v.value); }); }; }
    function settle(resolve, reject, d, v) { Promise.resolve(v).then(function(v) { resolve({ value: v, done: d }); }, reject); }
};
var __await = (undefined && undefined.__await) || function (v) { return this instanceof __await ? (this.v = v, this) : new __await(v); }
var __asyncGenerator = (undefined && undefined.__asyncGenerator) || function (thisArg, _arguments, generator) {
    if (!Symbol.asyncIterator) throw new TypeError("Symbol.asyncIterator is not defined.");
    var g = generator.apply(thisArg, _arguments || []), i, q = [];
    return i = Object.create((typeof AsyncIterator === "function" ? AsyncIterator : Object).prototype), verb("next"), verb("throw"), verb("return", awaitReturn), i[Symbol.asyncIterator] = function () { return this; }, i;
    function awaitReturn(f) { return function (v) { return Promise.resolve(v).then(f, reject); }; }
    function verb(n, f) { if (g[n]) { i[n] = function (v) { return new Promise(function (a, b) { q.push([n, v, a, b]) > 1 || resume(n, v); }); }; if (f) i[n] = f(i[n]); } }
    function resume(n, v) { try { step(g[n](v)); } catch (e) { settle(q[0][3], e); } }
    function step(r) { r.value instanceof __await ? Promise.resolve(r.value.v).then(fulfill, reject) : settle(q[0][2], r); }
    function fulfill(value) { resume("next", value); }
    function reject(value) { resume("throw", value); }
    function settle(f, v) { if (f(v), q.shift(), q.length) resume(q[0][0], q[0][1]); }
};








const internal_globber_IS_WINDOWS = process.platform === 'win32';
class DefaultGlobber {
    constructor(options) {
        this.patterns = [];
        this.searchPaths = [];
        this.options = getOptions(options);
    }
    getSearchPaths() {
        // Return a copy
        return this.searchPaths.slice();
    }
    glob() {
        return internal_globber_awaiter(this, void 0, void 0, function* () {
            var _a, e_1, _b, _c;
            const result = [];
            try {
                for (var _d = true, _e = __asyncValues(this.globGenerator()), _f; _f = yield _e.next(), _a = _f.done, !_a; _d = true) {
                    _c = _f.value;
                    _d = false;
                    const itemPath = _c;
                    result.push(itemPath);
                }
            }
            catch (e_1_1) { e_1 = { error: e_1_1 }; }
            finally {
                try {
                    if (!_d && !_a && (_b = _e.return)) yield _b.call(_e);
                }
                finally { if (e_1) throw e_1.error; }
            }
            return result;
        });
    }
    globGenerator() {
        return __asyncGenerator(this, arguments, function* globGenerator_1() {
            // Fill in defaults options
            const options = getOptions(this.options);
            // Implicit descendants?
            const patterns = [];
            for (const pattern of this.patterns) {
                patterns.push(pattern);
                if (options.implicitDescendants &&
                    (pattern.trailingSeparator ||
                        pattern.segments[pattern.segments.length - 1] !== '**')) {
                    patterns.push(new Pattern(pattern.negate, true, pattern.segments.concat('**')));
                }
            }
            // Push the search paths
            const stack = [];
            for (const searchPath of getSearchPaths(patterns)) {
                core_debug(`Search path '${searchPath}'`);
                // Exists?
                try {
                    // Intentionally using lstat. Detection for broken symlink
                    // will be performed later (if following symlinks).
                    yield __await(external_fs_namespaceObject.promises.lstat(searchPath));
                }
                catch (err) {
                    if (err.code === 'ENOENT') {
                        continue;
                    }
                    throw err;
                }
                stack.unshift(new SearchState(searchPath, 1));
            }
            // Search
            const traversalChain = []; // used to detect cycles
            while (stack.length) {
                // Pop
                const item = stack.pop();
                // Match?
                const match = internal_pattern_helper_match(patterns, item.path);
                const partialMatch = !!match || internal_pattern_helper_partialMatch(patterns, item.path);
                if (!match && !partialMatch) {
                    continue;
                }
                // Stat
                const stats = yield __await(DefaultGlobber.stat(item, options, traversalChain)
                // Broken symlink, or symlink cycle detected, or no longer exists
                );
                // Broken symlink, or symlink cycle detected, or no longer exists
                if (!stats) {
                    continue;
                }
                // Hidden file or directory?
                if (options.excludeHiddenFiles && external_path_namespaceObject.basename(item.path).match(/^\./)) {
                    continue;
                }
                // Directory
                if (stats.isDirectory()) {
                    // Matched
                    if (match & MatchKind.Directory && options.matchDirectories) {
                        yield yield __await(item.path);
                    }
                    // Descend?
                    else if (!partialMatch) {
                        continue;
                    }
                    // Push the child items in reverse
                    const childLevel = item.level + 1;
                    const childItems = (yield __await(external_fs_namespaceObject.promises.readdir(item.path))).map(x => new SearchState(external_path_namespaceObject.join(item.path, x), childLevel));
                    stack.push(...childItems.reverse());
                }
                // File
                else if (match & MatchKind.File) {
                    yield yield __await(item.path);
                }
            }
        });
    }
    /**
     * Constructs a DefaultGlobber
     */
    static create(patterns, options) {
        return internal_globber_awaiter(this, void 0, void 0, function* () {
            const result = new DefaultGlobber(options);
            if (internal_globber_IS_WINDOWS) {
                patterns = patterns.replace(/\r\n/g, '\n');
                patterns = patterns.replace(/\r/g, '\n');
            }
            const lines = patterns.split('\n').map(x => x.trim());
            for (const line of lines) {
                // Empty or comment
                if (!line || line.startsWith('#')) {
                    continue;
                }
                // Pattern
                else {
                    result.patterns.push(new Pattern(line));
                }
            }
            result.searchPaths.push(...getSearchPaths(result.patterns));
            return result;
        });
    }
    static stat(item, options, traversalChain) {
        return internal_globber_awaiter(this, void 0, void 0, function* () {
            // Note:
            // `stat` returns info about the target of a symlink (or symlink chain)
            // `lstat` returns info about a symlink itself
            let stats;
            if (options.followSymbolicLinks) {
                try {
                    // Use `stat` (following symlinks)
                    stats = yield external_fs_namespaceObject.promises.stat(item.path);
                }
                catch (err) {
                    if (err.code === 'ENOENT') {
                        if (options.omitBrokenSymbolicLinks) {
                            core_debug(`Broken symlink '${item.path}'`);
                            return undefined;
                        }
                        throw new Error(`No information found for the path '${item.path}'. This may indicate a broken symbolic link.`);
                    }
                    throw err;
                }
            }
            else {
                // Use `lstat` (not following symlinks)
                stats = yield external_fs_namespaceObject.promises.lstat(item.path);
            }
            // Note, isDirectory() returns false for the lstat of a symlink
            if (stats.isDirectory() && options.followSymbolicLinks) {
                // Get the realpath
                const realPath = yield external_fs_namespaceObject.promises.realpath(item.path);
                // Fixup the traversal chain to match the item level
                while (traversalChain.length >= item.level) {
                    traversalChain.pop();
                }
                // Test for a cycle
                if (traversalChain.some((x) => x === realPath)) {
                    core_debug(`Symlink cycle detected for path '${item.path}' and realpath '${realPath}'`);
                    return undefined;
                }
                // Update the traversal chain
                traversalChain.push(realPath);
            }
            return stats;
        });
    }
}
//# sourceMappingURL=internal-globber.js.map
// EXTERNAL MODULE: external "stream"
var external_stream_ = __nccwpck_require__(203);
// EXTERNAL MODULE: external "util"
var external_util_ = __nccwpck_require__(23);
;// CONCATENATED MODULE: ./node_modules/@actions/glob/lib/internal-hash-files.js
var internal_hash_files_awaiter = (undefined && undefined.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};
var internal_hash_files_asyncValues = (undefined && undefined.__asyncValues) || function (o) {
    if (!Symbol.asyncIterator) throw new TypeError("Symbol.asyncIterator is not defined.");
    var m = o[Symbol.asyncIterator], i;
    return m ? m.call(o) : (o = typeof __values === "function" ? __values(o) : o[Symbol.iterator](), i = {}, verb("next"), verb("throw"), verb("return"), i[Symbol.asyncIterator] = function () { return this; }, i);
    function verb(n) { i[n] = o[n] && function (v) { return new Promise(function (resolve, reject) { v = o[n](v), settle(resolve, reject, v.done, v.value); }); }; }
    function settle(resolve, reject, d, v) { Promise.resolve(v).then(function(v) { resolve({ value: v, done: d }); }, reject); }
};






function hashFiles(globber_1, currentWorkspace_1) {
    return internal_hash_files_awaiter(this, arguments, void 0, function* (globber, currentWorkspace, verbose = false) {
        var _a, e_1, _b, _c;
        var _d;
        const writeDelegate = verbose ? info : core_debug;
        let hasMatch = false;
        const githubWorkspace = currentWorkspace
            ? currentWorkspace
            : ((_d = process.env['GITHUB_WORKSPACE']) !== null && _d !== void 0 ? _d : process.cwd());
        const result = external_crypto_namespaceObject.createHash('sha256');
        let count = 0;
        try {
            for (var _e = true, _f = internal_hash_files_asyncValues(globber.globGenerator()), _g; _g = yield _f.next(), _a = _g.done, !_a; _e = true) {
                _c = _g.value;
                _e = false;
                const file = _c;
                writeDelegate(file);
                if (!file.startsWith(`${githubWorkspace}${external_path_namespaceObject.sep}`)) {
                    writeDelegate(`Ignore '${file}' since it is not under GITHUB_WORKSPACE.`);
                    continue;
                }
                if (external_fs_namespaceObject.statSync(file).isDirectory()) {
                    writeDelegate(`Skip directory '${file}'.`);
                    continue;
                }
                const hash = external_crypto_namespaceObject.createHash('sha256');
                const pipeline = external_util_.promisify(external_stream_.pipeline);
                yield pipeline(external_fs_namespaceObject.createReadStream(file), hash);
                result.write(hash.digest());
                count++;
                if (!hasMatch) {
                    hasMatch = true;
                }
            }
        }
        catch (e_1_1) { e_1 = { error: e_1_1 }; }
        finally {
            try {
                if (!_e && !_a && (_b = _f.return)) yield _b.call(_f);
            }
            finally { if (e_1) throw e_1.error; }
        }
        result.end();
        if (hasMatch) {
            writeDelegate(`Found ${count} files to hash.`);
            return result.digest('hex');
        }
        else {
            writeDelegate(`No matches found for glob`);
            return '';
        }
    });
}
//# sourceMappingURL=internal-hash-files.js.map
;// CONCATENATED MODULE: ./node_modules/@actions/glob/lib/glob.js
var glob_awaiter = (undefined && undefined.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};


/**
 * Constructs a globber
 *
 * @param patterns  Patterns separated by newlines
 * @param options   Glob options
 */
function create(patterns, options) {
    return glob_awaiter(this, void 0, void 0, function* () {
        return yield DefaultGlobber.create(patterns, options);
    });
}
/**
 * Computes the sha256 hash of a glob
 *
 * @param patterns  Patterns separated by newlines
 * @param currentWorkspace  Workspace used when matching files
 * @param options   Glob options
 * @param verbose   Enables verbose logging
 */
function glob_hashFiles(patterns_1) {
    return glob_awaiter(this, arguments, void 0, function* (patterns, currentWorkspace = '', options, verbose = false) {
        let followSymbolicLinks = true;
        if (options && typeof options.followSymbolicLinks === 'boolean') {
            followSymbolicLinks = options.followSymbolicLinks;
        }
        const globber = yield create(patterns, { followSymbolicLinks });
        return hashFiles(globber, currentWorkspace, verbose);
    });
}
//# sourceMappingURL=glob.js.map
;// CONCATENATED MODULE: ./src/store/key.ts
// The cache key. Default: `runbox-<kind>-<os>-<arch>[-<tool version>]-<hash of key-files>`, so
// a new tool version or a changed workflow gets a fresh entry, while the restore key (the same
// without the hash) still finds the newest snapshot of a matching toolchain to start from.






/** `owner/repo/.github/workflows/ci.yml@refs/heads/main` -> `.github/workflows/ci.yml`. */
function workflowFile(workflowRef) {
    const at = workflowRef.lastIndexOf('@');
    const parts = (at >= 0 ? workflowRef.slice(0, at) : workflowRef).split('/');
    if (parts.length < 3 || parts.slice(2).some((c) => c === '' || c === '..'))
        return undefined;
    return parts.slice(2).join('/');
}
/** A default restore key: the key up to and including its last `-`, or none. */
function defaultRestoreKey(key) {
    const cut = key.lastIndexOf('-');
    return cut > 0 ? [key.slice(0, cut + 1)] : [];
}
function absolutePattern(pattern, workspace) {
    const neg = pattern.startsWith('!');
    const body = neg ? pattern.slice(1) : pattern;
    // @actions/glob resolves relative patterns against process.cwd(); key-files are meant
    // relative to the workspace, wherever the action happens to run from.
    const abs = external_node_path_default().isAbsolute(body) ? body : external_node_path_default().join(workspace, body);
    return (neg ? '!' : '') + abs;
}
async function keyFilesPart(cfg) {
    let patterns = cfg.keyFiles;
    let what = `key-files ${patterns.join(', ')}`;
    if (patterns.length === 0) {
        const wf = workflowFile(cfg.workflowRef);
        if (!wf)
            return { name: 'files', value: 'noworkflow', note: 'GITHUB_WORKFLOW_REF is not set; no workflow file to hash' };
        patterns = [wf];
        what = `workflow file ${wf}`;
    }
    // hashFiles, like the `hashFiles()` expression, only hashes files inside the workspace.
    const hash = await glob_hashFiles(patterns.map((p) => absolutePattern(p, cfg.workspace)).join('\n'), cfg.workspace);
    if (hash !== '')
        return { name: 'files', value: hash, note: `sha256 of ${what}` };
    if (cfg.keyFiles.length === 0) {
        // No checkout before this step: the workflow's path still tells workflows apart.
        const h = external_node_crypto_default().createHash('sha256').update(patterns[0]).digest('hex');
        return { name: 'files', value: h, note: `${what} is not in the workspace (no checkout yet?); sha256 of its path instead` };
    }
    core_warning(`runbox store: key-files (${cfg.keyFiles.join(', ')}) matched no file in ${cfg.workspace}; the key does not depend on them`);
    return { name: 'files', value: 'nofiles', note: `${what} matched no file` };
}
async function resolveKeys(cfg) {
    startGroup('runbox store: cache key');
    try {
        const version = await toolVersion(cfg.kind);
        let primary;
        let parts = [];
        if (cfg.key !== undefined) {
            primary = cfg.key;
            info(`key (from the 'key' input): ${primary}`);
        }
        else {
            parts = [
                { name: 'prefix', value: 'runbox', note: 'fixed' },
                { name: 'store', value: cfg.kind, note: "the 'store' input" },
                { name: 'os', value: process.platform, note: 'the runner OS' },
                { name: 'arch', value: process.arch, note: 'the runner architecture' },
                version ? { name: 'version', value: version, note: `${cfg.kind} tool version` } : { name: 'version', value: '', note: `${cfg.kind} tool not found or its version unreadable; left out` },
                await keyFilesPart(cfg)
            ];
            for (const p of parts)
                info(`${p.name}: ${p.value || '(none)'} (${p.note})`);
            primary = parts
                .map((p) => p.value)
                .filter((v) => v !== '')
                .join('-');
            info(`key: ${primary}`);
        }
        const restore = cfg.restoreKeys ?? defaultRestoreKey(primary);
        info(`restore keys: ${restore.length > 0 ? restore.join(', ') : '(none)'}${cfg.restoreKeys ? '' : ' (default: the key without its last part)'}`);
        const problem = keyProblem(primary) ?? restore.map(keyProblem).find((p) => p !== undefined);
        if (problem)
            throw new Error(`the cache key is unusable: ${problem}`);
        if (1 + restore.length > MAX_KEYS)
            throw new Error(`${1 + restore.length} cache keys in all; the cache service takes at most ${MAX_KEYS}`);
        return { primary, restore, parts, ...(version ? { toolVersion: version } : {}) };
    }
    finally {
        endGroup();
    }
}

;// CONCATENATED MODULE: ./src/store/delta.ts
// Delta snapshots: when main restored a full snapshot (the base) and the job added only a few
// store items, post uploads just those items plus the DB copy, in an entry whose manifest
// names the base by key. Restore fetches both and applies them as one sharded snapshot would
// be applied (see shard-rules.ts): the delta's items must not overlap the base's; each archive
// extracts into its own sub-dir of the private dir, so neither can write through the other.
//
// Chains never grow: a delta always refers to a FULL snapshot. When main restored a delta
// (base + delta), post's base is that same full base, and the new delta holds every item the
// full base lacks.
//
// The item set of the base travels from main to post in a runner-owned file under RUNNER_TEMP
// (the run state goes through GITHUB_STATE and must stay small); the state holds its path and
// its sha256, so a file changed in between is ignored (post then saves a full snapshot).




/** New items must be fewer than this fraction of the items on disk for a delta. */
const DELTA_MAX_NEW_FRACTION = 0.05;
const BASE_FILE_PREFIX = 'runbox-base-items-';
/** Writes the base info next to the staging dirs; returns its path and sha256 for the state. */
function writeBaseInfo(stagingBase, info) {
    external_node_fs_default().mkdirSync(stagingBase, { recursive: true });
    const file = external_node_path_default().join(stagingBase, `${BASE_FILE_PREFIX}${external_node_crypto_default().randomUUID()}.json`);
    const text = JSON.stringify({ key: info.key, bytes: info.bytes, items: [...info.items].sort() });
    external_node_fs_default().writeFileSync(file, text, { flag: 'wx', mode: 0o600 });
    return { file, sha256: external_node_crypto_default().createHash('sha256').update(text).digest('hex') };
}
/** Reads the base info back; undefined (with the reason) when it is gone or was changed. */
function readBaseInfo(file, sha256) {
    let text;
    try {
        text = external_node_fs_default().readFileSync(file, 'utf8');
    }
    catch (e) {
        return `the base item list ${file} cannot be read (${e.message})`;
    }
    if (external_node_crypto_default().createHash('sha256').update(text).digest('hex') !== sha256)
        return `the base item list ${file} changed since main wrote it`;
    const o = JSON.parse(text);
    if (typeof o.key !== 'string' || typeof o.bytes !== 'number' || !Array.isArray(o.items))
        return `the base item list ${file} is malformed`;
    return { key: o.key, bytes: o.bytes, items: o.items.filter((i) => typeof i === 'string') };
}
/** Removes the base info file (post, whatever it saved); only a file of ours in stagingBase. */
function removeBaseInfo(file, stagingBase) {
    if (external_node_path_default().dirname(file) !== stagingBase || !external_node_path_default().basename(file).startsWith(BASE_FILE_PREFIX))
        return;
    external_node_fs_default().rmSync(file, { force: true });
}
/**
 * Picks what a delta over `baseItems` holds: every member of an item the base lacks, and the
 * store paths themselves (as directory entries only). A file a new item shares with a base item
 * is archived whole (links never cross archives); one shared by new items, once.
 */
function planDelta(listing, baseItems) {
    const newItems = [...listing.items.keys()].filter((i) => !baseItems.has(i)).sort();
    const list = [...listing.shared];
    for (const i of newItems)
        for (const e of listing.items.get(i)?.entries ?? [])
            list.push(e.rel);
    list.sort(treeOrder);
    const dataBytes = dataBytesOf(newItems.flatMap((i) => listing.items.get(i)?.entries ?? []));
    return { list, dataBytes, items: listing.items.size, newItems };
}
/** True when a delta is worth it: fewer new items than DELTA_MAX_NEW_FRACTION of the items. */
function deltaDue(plan) {
    return plan.items > 0 && plan.newItems.length < DELTA_MAX_NEW_FRACTION * plan.items;
}

;// CONCATENATED MODULE: ./src/store/shard-rules.ts
// The archives of one snapshot (shards, or a delta and its base) each extract into their own
// sub-dir of the private dir, so none can write through another's symlink. What is left to
// check across them: no store item is in two archives (which copy would be moved in, and which
// registration would describe it, would be up to chance), and each archive holds exactly the
// items its manifest record lists (what a partial restore decided by).

/** Throws UnsafeArchiveError when a top-level item is in two archives of one snapshot. */
function checkShardsApart(summaries) {
    const owner = new Map();
    summaries.forEach((s, i) => {
        for (const top of s.tops) {
            const seen = owner.get(top);
            if (seen !== undefined && seen !== i)
                throw new UnsafeArchiveError(top, `is a store item in two archives of this snapshot (${seen} and ${i})`);
            owner.set(top, i);
        }
    });
}
/**
 * Throws UnsafeArchiveError when an archive whose record lists its items (ArchiveRecord.items,
 * absolute) holds an item it does not list, or lists one it does not hold, or when any read
 * archive holds an item another archive's record lists (`all`: every archive of the snapshot,
 * read or skipped). A partial restore skips archives by those lists, so a list that lies is
 * refused wherever the bytes show it.
 */
function checkItemsListed(archives, all) {
    const listedBy = new Map();
    for (const a of all)
        for (const i of a.items ?? [])
            listedBy.set(i.replace(/^\/+/, ''), a.index);
    for (const a of archives) {
        for (const top of a.summary.tops) {
            const by = listedBy.get(top);
            if (by !== undefined && by !== a.index)
                throw new UnsafeArchiveError(top, `is held by archive ${a.index}, but the manifest lists it in archive ${by}`);
        }
        if (!a.items)
            continue;
        const listed = new Set(a.items.map((i) => i.replace(/^\/+/, '')));
        for (const top of a.summary.tops)
            if (!listed.has(top))
                throw new UnsafeArchiveError(top, `is held by archive ${a.index}, whose manifest record does not list it`);
        for (const top of listed)
            if (!a.summary.tops.has(top))
                throw new UnsafeArchiveError(top, `is listed by the manifest record of archive ${a.index}, which does not hold it`);
    }
}

;// CONCATENATED MODULE: external "node:string_decoder"
const external_node_string_decoder_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:string_decoder");
;// CONCATENATED MODULE: ./src/sys/mount-id.ts
// Which mount a dir is on, by the kernel's mount ID: st_dev tells filesystems apart, not mounts
// (a bind mount of a dir of the same filesystem has its st_dev), and a rename between two mounts
// fails with EXDEV even on one filesystem (mv then copies). The dir is opened itself, no other
// mount point is looked up or stat'ed (a hung FUSE or NFS mount elsewhere cannot hang this).

/**
 * O_PATH (Linux x86_64 and arm64, the generic value): the dir needs no read permission and is
 * not read, only named; node's fs.constants lacks it.
 */
const O_PATH = 0o10000000;
/** The ID of the mount `dir` is on (the last component is not followed: a symlink fails with ELOOP / ENOTDIR). */
function mountIdOf(dir) {
    const fd = external_node_fs_default().openSync(dir, O_PATH | (external_node_fs_default()).constants.O_DIRECTORY | (external_node_fs_default()).constants.O_NOFOLLOW);
    try {
        const m = /^mnt_id:\s*(\d+)$/m.exec(external_node_fs_default().readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
        if (!m)
            throw new Error(`/proc/self/fdinfo/${fd} (${dir}) has no mnt_id line: is /proc mounted?`);
        return Number(m[1]);
    }
    finally {
        external_node_fs_default().closeSync(fd);
    }
}

;// CONCATENATED MODULE: ./src/store/canonical-tar.ts
// The only tar stream root's `tar -x` ever reads during a restore: generated here from members
// that members.ts already checked, never copied from the snapshot. Every header byte comes from
// the checked fields (path, kind, size, executable bit, symlink target) and fixed canonical
// metadata, so tar cannot read anything node did not see: no pax record, long-name record,
// prefix field, type flag or numeric field of the snapshot passes through. Only file contents
// (the data blocks) are copied, and those are exactly `size` bytes, padded here with zeros.
//
// Format: GNU (`ustar  \0` magic), which GNU tar reads natively; names or link targets that do
// not fit the 100-byte fields get `L`/`K` long-name records generated here. Canonical metadata,
// what the Guix and Nix daemons give store items: uid/gid 0 (numeric), mtime 1, dirs 0555,
// files 0555 when the snapshot's mode had any x bit and 0444 otherwise, symlinks 0777. A hard
// link (type '1') is only ever emitted to a file emitted earlier into the same stream; tar makes
// it with link(2), so it is that file's inode, metadata and all.
const canonical_tar_BLOCK = 512;
const CANONICAL_MTIME = 1;
/** The mode a member gets on disk (without the file type bits). */
function canonicalMode(m) {
    if (m.kind === 'dir')
        return 0o555;
    if (m.kind === 'symlink')
        return 0o777;
    // A link's header mode is not applied (the inode is its target's); it repeats the target's.
    return m.executable ? 0o555 : 0o444;
}
const TYPEFLAG = { file: '0', dir: '5', symlink: '2', link: '1' };
/** Octal fields of 12 bytes hold 11 digits: below this, octal; at or above, GNU base-256. */
const OCTAL12_LIMIT = 8 ** 11;
function octal(h, off, len, v) {
    h.write(`${v.toString(8).padStart(len - 1, '0')}\0`, off, len, 'latin1');
}
function numeric12(h, off, v) {
    if (!Number.isSafeInteger(v) || v < 0)
        throw new Error(`canonical tar: ${v} is not a size`);
    if (v < OCTAL12_LIMIT)
        return octal(h, off, 12, v);
    // GNU base-256: high bit of the first byte set, big-endian value in the rest.
    let x = BigInt(v);
    for (let i = off + 11; i > off; i--) {
        h[i] = Number(x & 0xffn);
        x >>= 8n;
    }
    h[off] = 0x80;
}
function block(name, type, mode, size, link) {
    const h = Buffer.alloc(canonical_tar_BLOCK);
    name.copy(h, 0, 0, Math.min(name.length, 100));
    octal(h, 100, 8, mode);
    octal(h, 108, 8, 0);
    octal(h, 116, 8, 0);
    numeric12(h, 124, size);
    octal(h, 136, 12, type === 'L' || type === 'K' ? 0 : CANONICAL_MTIME);
    h.write('        ', 148, 8, 'latin1');
    h.write(type, 156, 1, 'latin1');
    link.copy(h, 157, 0, Math.min(link.length, 100));
    h.write('ustar  \0', 257, 8, 'latin1');
    let sum = 0;
    for (const b of h)
        sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
    return h;
}
const ZEROS = Buffer.alloc(canonical_tar_BLOCK);
/** Zeros that pad `size` data bytes to a whole block (a view of one shared zero block: never written to). */
function padding(size) {
    return ZEROS.subarray(0, (canonical_tar_BLOCK - (size % canonical_tar_BLOCK)) % canonical_tar_BLOCK);
}
/** A GNU `L`/`K` record carrying `value` (NUL-terminated), data padded. */
function longRecord(type, value) {
    const data = Buffer.concat([value, Buffer.alloc(1)]);
    return [block(Buffer.from('././@LongLink', 'latin1'), type, 0, data.length, Buffer.alloc(0)), data, padding(data.length)];
}
/** The header block(s) of one checked member; its data (files) follows, then padding(size). */
function memberHeader(m) {
    if (/[\0]/.test(m.path) || m.path === '' || m.path.startsWith('/') || m.path.endsWith('/'))
        throw new Error(`canonical tar: '${m.path}' is not a checked path`);
    if (m.kind !== 'file' && m.size !== 0)
        throw new Error(`canonical tar: ${m.kind} '${m.path}' with ${m.size} data bytes`);
    if ((m.kind === 'symlink' || m.kind === 'link') && (m.target === undefined || m.target === '' || m.target.includes('\0')))
        throw new Error(`canonical tar: ${m.kind} '${m.path}' without a target`);
    if (m.kind === 'link' && m.target.startsWith('/'))
        throw new Error(`canonical tar: link '${m.path}' to an absolute path`);
    const name = Buffer.from(m.kind === 'dir' ? `${m.path}/` : m.path, 'utf8');
    const link = Buffer.from(m.kind === 'symlink' || m.kind === 'link' ? m.target : '', 'utf8');
    const parts = [];
    // >= 100: a name filling the field exactly has no NUL; readers differ on that, a record does not.
    if (link.length >= 100)
        parts.push(...longRecord('K', link));
    if (name.length >= 100)
        parts.push(...longRecord('L', name));
    parts.push(block(name, TYPEFLAG[m.kind], canonicalMode(m), m.size, link));
    return Buffer.concat(parts);
}
/** Two zero blocks: the end of the archive. */
function endOfArchive() {
    return Buffer.alloc(2 * canonical_tar_BLOCK);
}

;// CONCATENATED MODULE: ./src/store/archive.ts
// Creating a snapshot: `tar -c` with root rights (the store is root-owned and partly unreadable
// to the runner user) piped into `zstd` as the runner user, each archive handed to a sink as it
// is made: straight into the cache upload (entry/writer.ts EntryStream, what save does: no copy
// of the snapshot on disk), or into files of a dir (SnapshotSink.dir, for tests and tools). The DB dir is never archived: what the DB knows about
// the saved items is read from the live DB as data (registrations.ts), in one read transaction
// per query, while the daemon may run (stopping it in post could disturb a job's later steps).














const ARCHIVE_FILE = 'store.tar.zst';
const DELTA_ARCHIVE_FILE = 'delta.tar.zst';
/** A sink writing each file into `dir` (which must exist), hashing it on the way. */
function dirSink(dir) {
    return {
        async put(name, src) {
            const tap = new HashTap();
            // Copies: the write stream queues what it is given, and a piece is valid only until the
            // next is asked for (pipeToSink).
            async function* copies() {
                for await (const b of src)
                    yield Buffer.from(b);
            }
            await (0,promises_namespaceObject.pipeline)(copies(), tap, (0,external_node_fs_.createWriteStream)(external_node_path_default().join(dir, name), { flags: 'wx' }));
            return { sha256: tap.digest(), bytes: tap.bytes };
        }
    };
}
function sinkOf(opts) {
    if (opts.sink)
        return opts.sink;
    if (opts.snapshotDir)
        return dirSink(opts.snapshotDir);
    throw new Error('createSnapshot: neither a sink nor a snapshot dir given');
}
/** Shared by every archive: numeric ids, exact pax metadata, nothing the restore host would map. */
const COMMON_TAR_ARGS = [
    // Numeric ids: the restoring host's user names may map to other ids.
    '--numeric-owner',
    // pax keeps long names and big sizes exactly; atime/ctime records would only make the
    // archive bigger and unreproducible.
    '--format=posix',
    '--pax-option=delete=atime,delete=ctime'
    // No --hard-dereference: a file with several names in one archive is stored once, at its first
    // name, and as a hard-link member at the others (restore accepts exactly those). Each archive
    // is its own tar, so no link crosses archives; `.links` is excluded, so none points into it.
];
/** One archive of whole store paths, tar walking them itself: for stores whose names cannot be listed back to tar. */
function wholeTarArgs(opts, present) {
    return [
        '-c',
        '-f',
        '-',
        '-C',
        opts.root,
        ...COMMON_TAR_ARGS,
        // Tree order: every dir before what is in it, which restore requires.
        '--sort=name',
        '--anchored',
        '--wildcards',
        '--no-wildcards-match-slash',
        ...dbDirExcludes(opts.dbDir),
        // Dot-entries of a store dir (`.links`, a restore's private dir) are never archived.
        ...present.map((p) => `--exclude=${p.replace(/^\/+/, '')}/.*`),
        // Nor the daemons' lock files, which restore never takes (members.ts isDaemonLockName).
        ...present.map((p) => `--exclude=${p.replace(/^\/+/, '')}/*.lock`),
        '--',
        ...present.map((p) => p.replace(/^\/+/, ''))
    ];
}
/** One shard: exactly the members listed (NUL-separated, already in name order), no recursion. */
function listTarArgs(opts, listFile) {
    // --verbatim-files-from: a listed name starting with '-' is a name, not an option.
    return ['-c', '-f', '-', '-C', opts.root, ...COMMON_TAR_ARGS, '--no-recursion', '--null', '--verbatim-files-from', '-T', listFile];
}
// zstd's default window for level 3: hard links keep most duplicates out of the archive, and a
// long window (--long=26) bought 3% of size for 15-40% more time on a 400 MiB mkstore store.
// Restore still bounds every frame's window (--memory=64MB): a snapshot asking for more is
// refused before zstd allocates it, whatever window a later runbox may choose to write.
const ZSTD_WINDOW_LOG = 26;
// Frames compressed side by side (one per core already) each get a single-threaded zstd: -T0 or
// -T1 would add worker threads fighting for the same cores, and their job buffers (about 35 MiB,
// freshly touched by every zstd: one per frame) cost more in page faults than the compression of
// a 32 MiB frame saves (BENCHMARKS.md: on a VM, 0.10-0.15 CPU s a frame).
const compress = (threads) => ({ cmd: 'zstd', args: [threads === 'one' ? '--single-thread' : '-T0', '-q', '-c'] });
/** One archive of exactly the members listed (in tree order), tar reading the list from a scratch file. */
async function listArchive(opts, list, file, storePaths, dataBytes, byRel, items, sink, threads = 'all') {
    const listFile = external_node_path_default().join(opts.scratchDir, `${file}.list`);
    external_node_fs_default().writeFileSync(listFile, list.map((m) => `${m}\0`).join(''));
    // What this archive's hard-link members will point at (tar takes the list in this order):
    // restore writes these even for items it already has, so a new item's link to one lands.
    // More than a manifest may list: none, and a restore onto a store that has some of the
    // linked-to items leaves out the new items linking to them (rather than failing the save).
    const all = linkTargetsOf(list, byRel);
    const linkTargets = all.length <= MAX_LINK_TARGETS ? all : [];
    try {
        const r = await pipeToSink([{ cmd: 'tar', args: listTarArgs(opts, listFile), privileged: true }, compress(threads)], sink, file);
        return { file, ...r, compression: 'zstd', storePaths, dataBytes, ...(linkTargets.length > 0 ? { linkTargets } : {}), items: [...items] };
    }
    finally {
        external_node_fs_default().rmSync(listFile, { force: true });
    }
}
/** The shards, one per core at a time: each is a tar (reading the disk) and a zstd. */
async function writeShards(opts, plan, byRel, sink) {
    const storePaths = (list) => opts.storePaths.filter((p) => list.some((m) => m === p.replace(/^\/+/, '')));
    const out = new Array(plan.lists.length);
    const count = Math.min(autoShardCount(), plan.lists.length);
    // The biggest frames first (an item past the frame size has one of its own): taken in plan
    // order, a big one late kept one worker busy after the others had run out of frames. The
    // entry places each frame when it ends, whatever the order (entry/writer.ts).
    const order = plan.lists.map((_, i) => i).sort((a, b) => plan.dataBytes[b] - plan.dataBytes[a] || a - b);
    let next = 0;
    let stop = false;
    const worker = async () => {
        try {
            for (let k = next++; k < order.length && !stop; k = next++) {
                const i = order[k];
                out[i] = await listArchive(opts, plan.lists[i], `store-${i}.tar.zst`, storePaths(plan.lists[i]), plan.dataBytes[i], byRel, plan.items[i], sink, count > 1 ? 'one' : 'all');
            }
        }
        catch (e) {
            // The other workers start no new frame: the snapshot has failed.
            stop = true;
            throw e;
        }
    };
    const workers = Array.from({ length: count }, worker);
    // Every worker settled before a failure is thrown: no tar may still be writing.
    const failed = (await Promise.allSettled(workers)).find((r) => r.status === 'rejected');
    if (failed)
        throw failed.reason;
    return out;
}
async function wholeArchive(opts, present) {
    const dataBytes = await wholeDataBytes(opts, present);
    const r = await pipeToSink([{ cmd: 'tar', args: wholeTarArgs(opts, present), privileged: true }, compress('all')], sinkOf(opts), ARCHIVE_FILE);
    return { file: ARCHIVE_FILE, ...r, compression: 'zstd', storePaths: present, dataBytes };
}
/**
 * The data wholeTarArgs archives, each file once (restore requires the figure and refuses an
 * archive holding more). Read before tar runs, so a file growing meanwhile makes the restore
 * refuse the snapshot rather than fill a disk. Names are only split at their first component
 * here (the reason this store is archived whole is that its names cannot be listed exactly).
 */
async function wholeDataBytes(opts, present) {
    let n = 0;
    const seen = new Set();
    for (const sp of present) {
        const r = await run('find', [onDisk(opts.root, sp), '-type', 'f', '-printf', '%D:%i\\t%n\\t%s\\t%P\\0'], { privileged: true, maxStdout: 400 * 1024 * 1024 });
        for (const rec of r.stdout.split('\0')) {
            if (rec === '')
                continue;
            const [ino, nlink, size, ...name] = rec.split('\t');
            const rel = name.join('\t');
            const top = rel.split('/')[0];
            if (top.startsWith('.') || isDaemonLockName(top) || inDbDir(`${sp}/${rel}`, opts.dbDir))
                continue;
            if (Number(nlink) > 1) {
                if (seen.has(ino))
                    continue;
                seen.add(ino);
            }
            n += Number(size);
        }
    }
    return n;
}
function onDisk(root, abs) {
    return external_node_path_default().join(root, abs);
}
/** What one read of the archive pipeline's output takes at most. */
const READ_BUFFER_BYTES = 256 * 1024;
/**
 * Runs `stages` and hands the last stage's stdout to the sink as `name`, read into one reused
 * buffer (pipeline.ts ReusedReads: fresh buffers per read cost node more than the copies; the
 * sinks copy what they keep).
 */
async function pipeToSink(stages, sink, name) {
    const chunks = new HandOff();
    const taken = sink.put(name, chunks);
    // A sink failing before it reads (the entry already broken by another frame's upload) would
    // leave the first chunk waiting forever, and tar | zstd blocked on a full pipe: it stops the
    // reader. The failure itself is told below.
    taken.catch(() => chunks.stop());
    try {
        await pipeline_runPipeline(stages, {
            consumeInto: {
                buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
                onChunk: chunks.onChunk,
                onEnd: async () => {
                    chunks.end();
                    await taken;
                }
            }
        });
    }
    catch (e) {
        chunks.fail(e instanceof Error ? e : new Error(String(e)));
        // The sink's own failure (an UploadError) is the cause when it stopped reading first.
        const putFailure = await taken.then(() => undefined, (x) => x);
        throw putFailure ?? e;
    }
    return taken;
}
/** The tar exclusion of the DB dir (when it lies inside a store path; as a store path itself it is not archived at all). */
function dbDirExcludes(dbDir) {
    return dbDir ? [`--exclude=${dbDir.replace(/^\/+/, '')}`] : [];
}
/** The saved items' registrations, when the store dir is saved and a live DB exists. */
async function liveRegistrations(opts, archived) {
    const storeDir = PRESETS[opts.kind].storeDir;
    if (!opts.dbDir || !archived.includes(storeDir))
        return undefined;
    const live = external_node_path_default().join(opts.root, opts.dbDir, DB_FILE);
    if ((await run('test', ['-f', live], { privileged: true, allowFailure: true })).code !== 0)
        return undefined;
    return readLiveRegistrations(live, storeDir, opts.scratchDir);
}
async function writeRegistrations(opts, set) {
    const raw = external_node_path_default().join(opts.scratchDir, 'registrations.json');
    external_node_fs_default().writeFileSync(raw, serializeRegistrations(set), { flag: 'wx' });
    try {
        const r = await pipeToSink([{ cmd: 'zstd', args: ['-T0', '-q', '-c', '--', raw] }], sinkOf(opts), REGISTRATIONS_FILE);
        return { file: REGISTRATIONS_FILE, ...r, compression: 'zstd', paths: set.paths.length };
    }
    finally {
        external_node_fs_default().rmSync(raw, { force: true });
    }
}
/** Writes the snapshot (archives, registrations, manifest) into opts.snapshotDir. */
async function createSnapshot(opts) {
    const present = [];
    const missing = [];
    for (const p of opts.storePaths) {
        const st = external_node_fs_default().lstatSync(onDisk(opts.root, p), { throwIfNoEntry: false });
        if (!st)
            missing.push(p);
        // A symlinked store path would be archived as the link, which restore then refuses.
        else if (!st.isDirectory())
            throw new Error(`store path ${p} is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}; give the real directory in store-paths`);
        else
            present.push(p);
    }
    if (present.length === 0)
        throw new Error(`none of the store paths exists (${opts.storePaths.join(', ')}): nothing to save`);
    // The DB dir may still be one of the store paths (the default store-paths name it, and so
    // does the manifest, keeping the cache version of existing configs): it is just not archived.
    const archived = present.filter((p) => !inDbDir(p, opts.dbDir));
    if (archived.length === 0)
        throw new Error(`only the DB dir ${opts.dbDir ?? ''} exists of the store paths, and it is never archived: nothing to save`);
    const t0 = Date.now();
    // Read before the archive: an item registered later is saved unregistered, never the reverse.
    const regs = await liveRegistrations(opts, archived);
    const t1 = Date.now();
    // One walk of the store serves the delta decision, the shard split and the data sizes.
    const listing = await listStore(opts.root, archived, (p) => inDbDir(p, opts.dbDir));
    const byRel = listing ? entriesByRel(listing) : new Map();
    let archives;
    let delta;
    if (opts.base) {
        const d = listing && planDelta(listing, opts.base.items);
        const counts = { items: d?.items ?? 0, newItems: d?.newItems.length ?? 0 };
        if (d && deltaDue(d)) {
            archives = [await listArchive(opts, d.list, DELTA_ARCHIVE_FILE, archived, d.dataBytes, byRel, d.newItems, sinkOf(opts))];
            delta = { written: true, ...counts, reason: '' };
        }
        else {
            const reason = !d
                ? 'the store layout cannot be listed member by member'
                : `${counts.newItems} of ${counts.items} items are new (a delta needs fewer than ${Math.round(100 * DELTA_MAX_NEW_FRACTION)}%)`;
            delta = { written: false, ...counts, reason };
        }
    }
    if (!archives) {
        if (!listing)
            archives = [await wholeArchive(opts, archived)];
        else {
            // shards: N keeps N byte-balanced archives; auto makes frames (see shards.ts).
            const rank = registrationRank(regs?.paths ?? [], regs?.rowIds);
            const plan = opts.shards ? (planShards(listing, opts.shards, false) ?? oneFrame(listing)) : planFrames(listing, (i) => rank.get(i), opts.frameBytes);
            archives =
                plan.lists.length === 1
                    ? [await listArchive(opts, plan.lists[0], ARCHIVE_FILE, archived, plan.dataBytes[0], byRel, plan.items[0], sinkOf(opts))]
                    : await writeShards(opts, plan, byRel, sinkOf(opts));
        }
    }
    const t2 = Date.now();
    const base = delta?.written && opts.base ? { key: opts.base.key, bytes: opts.base.bytes } : undefined;
    // A delta carries the registrations its base lacks; restore applies the base's first.
    const baseItems = base ? opts.base?.items : undefined;
    const registrations = regs && (await writeRegistrations(opts, baseItems ? { ...regs, paths: regs.paths.filter((r) => !baseItems.has(r.path)) } : regs));
    const manifest = {
        format: FORMAT,
        version: base ? DELTA_FORMAT_VERSION : FORMAT_VERSION,
        kind: opts.kind,
        createdAt: new Date().toISOString(),
        ...(opts.toolVersion ? { toolVersion: opts.toolVersion } : {}),
        storePaths: present,
        archives,
        ...(registrations ? { registrations } : {}),
        ...(base ? { base } : {})
    };
    await sinkOf(opts).put(MANIFEST_FILE, [encodeManifest(manifest)]);
    return { manifest, dbMs: t1 - t0, archiveMs: t2 - t1, missing, ...(delta ? { delta } : {}) };
}

;// CONCATENATED MODULE: ./src/store/private-extract.ts
// The one way a snapshot reaches the store. Each archive is decompressed once; node parses it
// (members.ts), checks every member, and writes to `tar -x` a canonical stream it generates
// itself (canonical-tar.ts): headers built from the checked fields, the files' data copied
// through. tar never reads a byte of the snapshot's headers, so there is no second parser to
// disagree with. tar extracts into a fresh root-only private dir on the store's filesystem, one
// tree per entry of the restore (a delta and its base, which different jobs may have written)
// and one sub-dir per archive in it, and not as root: the kernel confines it (sys/confined.ts)
// to an uid that owns nothing (one per entry), in namespaces where its entry's tree is the only
// place it can write. So even a tar that was taken over cannot reach another entry's files;
// the archives of one entry share their tree (the walk checks their paths, not their data). Once every archive passed and its digest matched,
// the tree is given to root and walked (never following a link): it must be exactly what node
// emitted, with canonical metadata; only then, with the daemon stopped, are the new items
// renamed into the store. There is no extraction into the live store and no fallback: a refused
// snapshot, a tar failure or ENOSPC remove the private dir and leave the store as it was; a hard
// kill leaves only the private dir, which the next restore on the host reaps.
//
// Where the private dir goes: beside the first store path's real location (symlinks root made
// above it resolved up front, config.ts realStorePaths; its parent, or the nearest existing
// ancestor when the store does not exist yet), so renames stay on one filesystem; inside the
// store dir itself when that is a mount point (`<store>/.runbox-restore-<pid>-<start time>`, a
// dot-entry, which save never archives and restore never accepts from a snapshot).
//
// Items already in the store are never written to it: node checks their members and drops them
// from the stream (except the leftovers restore.ts names, see treatAsLeftovers), except link anchors (files the manifest names as what this archive's hard
// links point at), which go into the private dir only and are removed with it. Hard links are
// emitted only to a file emitted earlier into the same archive's stream; a new item linking to
// a file of an item already in the store that is no anchor (never emitted, so not in the
// private dir) is not restored at all: it stays behind and is removed with the private dir.
// Store dirs that do not exist yet are made by runbox (root:root 0755), never taken from an
// archive; the daemons set their own group and mode on the store dir when they start (Nix and
// Guix chown it to the build group and chmod 1775 in multi-user mode).




















const PRIVATE_PREFIX = '.runbox-restore-';
/** `.runbox-restore-<pid>-<start time>`: the restore that owns it, checkable after a hard kill. */
const PRIVATE_NAME = /^\.runbox-restore-([1-9][0-9]*)-([0-9]+)$/;
const rel = (p) => p.replace(/^\/+/, '');
/** tar stopped reading before the end of the stream: its own exit says why (see extractAll). */
class TarGoneError extends Error {
    constructor() {
        super('tar stopped reading before the end of the archive');
        this.name = 'TarGoneError';
    }
}
/**
 * Members one archive may hold, and paths one restore may extract, all its archives together:
 * beyond, the checks' own bookkeeping would grow without bound. The record of what must land
 * (verifyLanded) is kept for every archive until the walk, about 270 bytes of heap a path
 * (measured: __tests__/store-members-memory.test.ts), so it is bounded per restore: per archive
 * alone, 128 archives of 4M members (a few MB of zstd each) would be 512M paths.
 */
const MAX_MEMBERS = 4_000_000;
/** What the filesystem keeps free while a restore extracts: 5% of it, at most these. */
const HEADROOM_BYTES = 64 * 1024 * 1024;
const HEADROOM_MIN_BYTES = 2 * 1024 * 1024;
const HEADROOM_INODES = 10_000;
/** What one read of zstd's output takes at most: a unix socket holds about 200 KiB. */
const private_extract_READ_BUFFER_BYTES = 256 * 1024;
/** Bytes of source names one `mv` of moveAll takes. */
const MOVE_ARG_BYTES = 256 * 1024;
class SpaceError extends Error {
    constructor(message) {
        super(message);
        this.name = 'SpaceError';
    }
}
/** Where a path under one of the store paths (absolute, as given) really is. */
function onStoreDisk(disk, p) {
    for (const [sp, real] of disk)
        if (p === sp || p.startsWith(`${sp}/`))
            return real + p.slice(sp.length);
    throw new Error(`${p} is under none of the store paths ${[...disk.keys()].join(', ')}`);
}
/**
 * Refuses store paths that a symlink or non-dir on disk would redirect: every existing component
 * of each store path's real location, from `/` down, must be a real dir (the links root made
 * above it are resolved already; one that appeared since is refused here).
 */
function checkStoreChains(disk) {
    for (const [sp, real] of disk) {
        let cur = '';
        for (const part of rel(real)
            .split('/')
            .filter((c) => c !== '')) {
            cur = `${cur}/${part}`;
            const st = external_node_fs_default().lstatSync(cur, { throwIfNoEntry: false });
            if (!st)
                break;
            if (st.isSymbolicLink())
                throw new UnsafeArchiveError(sp, `would be written through ${cur}, a symlink on disk`);
            if (!st.isDirectory())
                throw new UnsafeArchiveError(sp, `needs ${cur} to be a directory, but it is not`);
        }
    }
}
/**
 * Where private dirs go for this store (see the top of the file): beside the real location of
 * the first store path, so a root-made /gnu -> /data/gnu puts it in /data/gnu, whose mtime
 * close() restores (never the link's). The homes start at `root` (tests' temp roots) unless
 * the store is outside it.
 */
function privatePlace(root, disk) {
    checkStoreChains(disk);
    const [store] = disk.values();
    const from = store === root || isUnder(store, root) ? root : '/';
    const homes = [from];
    for (const part of external_node_path_default().relative(from, external_node_path_default().dirname(store))
        .split('/')
        .filter((c) => c !== '')) {
        const cur = external_node_path_default().join(homes[homes.length - 1], part);
        if (!external_node_fs_default().lstatSync(cur, { throwIfNoEntry: false }))
            break;
        homes.push(cur);
    }
    const parent = homes[homes.length - 1];
    const st = external_node_fs_default().lstatSync(store, { throwIfNoEntry: false });
    if (!st)
        return { parent, homes };
    homes.push(store);
    // A mount point (a bind mount of the same filesystem too: mount IDs, not st_dev): a rename
    // from its parent would cross mounts (EXDEV: mv copies, which ENOSPC can cut short).
    return { parent: mountIdOf(store) !== mountIdOf(parent) ? store : parent, homes };
}
/**
 * Removes the private dirs in `parent` whose restore is gone (hard-killed: its pid is not
 * running, or runs a later process). Only root-owned real dirs with our name; never followed.
 * Only where `parent` is root's alone all the way from `/` (rootOnlyProblem): in a dir another
 * user may write, that user could rename any root-owned dir they reach there (the daemon's DB
 * dir, say) to a dead restore's name, and root would delete it. There it reaps nothing and
 * returns why in `skipped`.
 */
async function reapPrivateDirs(parent) {
    const unsafe = rootOnlyProblem(parent);
    if (unsafe !== undefined)
        return { reaped: [], skipped: unsafe };
    let names;
    try {
        names = external_node_fs_default().readdirSync(parent);
    }
    catch (e) {
        if (e.code === 'ENOENT')
            return { reaped: [] };
        throw e;
    }
    const reaped = [];
    for (const name of names) {
        const m = PRIVATE_NAME.exec(name);
        if (!m)
            continue;
        const dir = external_node_path_default().join(parent, name);
        const st = external_node_fs_default().lstatSync(dir, { throwIfNoEntry: false });
        if (!st?.isDirectory() || st.uid !== 0)
            continue;
        if (procStat(Number(m[1]))?.startTime === m[2])
            continue;
        await removeTree(dir);
        reaped.push(dir);
    }
    return { reaped };
}
/**
 * Resolves once `b` is written to `w` (its callback); rejects with the write's error, or when `w`
 * closes first (its reader gone and the stream torn down: no callback may come then).
 */
function writeWhole(w, b) {
    return new Promise((resolve, reject) => {
        const gone = () => reject(Object.assign(new Error('the stream closed before the write ended'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
        if (w.destroyed)
            return gone();
        w.once('close', gone);
        w.write(b, (e) => {
            w.off('close', gone);
            if (e)
                reject(e);
            else
                resolve();
        });
    });
}
/** Resolves once `written` did (a write's callback), or `w` is closed (its reader is gone). */
function writtenOrClosed(w, written) {
    if (w.closed)
        return Promise.resolve();
    let onClose = () => undefined;
    const closed = new Promise((resolve) => w.once('close', (onClose = resolve)));
    return Promise.race([written, closed]).finally(() => w.off('close', onClose));
}
/**
 * The confined `tar -x` arguments for the canonical stream (see the top of the file): it runs in
 * its sub-dir (sys/confined.ts), as an uid that owns nothing, so every path lands as that uid's
 * (verifyLanded gives the tree to root before the walk).
 */
function tarExtractArgs() {
    return [
        '-x',
        '-f',
        '-',
        '--numeric-owner',
        '--no-same-owner',
        '--same-permissions',
        // Dirs are 0555 and get their mtime 1 after their contents are in, whatever the order.
        '--delay-directory-restore',
        // The stream holds no path twice and the dir is fresh: anything already there is an error.
        '--keep-old-files',
        '--no-acls',
        '--no-xattrs',
        '--no-selinux'
    ];
}
/**
 * The confined `tar -x` (sys/confined.ts) into `dir` as entry `part`'s ids, reading the
 * canonical stream `feed` writes to its stdin (the only place restore starts tar). Resolves
 * when tar exited 0.
 */
function extractTar(dir, part, feed) {
    return pipeline_runPipeline([confinedCommand(dir, 'tar', tarExtractArgs(), confinedIds(part))], { feed });
}
/** statfs's available bytes: what the check may count on (root's reserve left out). */
function private_extract_freeBytes(dir) {
    const s = external_node_fs_default().statfsSync(dir);
    return s.bavail * s.bsize;
}
/** `<source> mounted on <target>` for the filesystem holding `dir`, as df names it. */
async function filesystemOf(dir) {
    const r = await run('df', ['-P', '--', dir], { allowFailure: true });
    const last = r.stdout.trim().split('\n').pop() ?? '';
    const f = last.split(/\s+/);
    return r.code === 0 && f.length >= 6 ? `${f[0]} mounted on ${f.slice(5).join(' ')}` : `the filesystem of ${dir}`;
}
/** A private dir for one restore; close() removes it (also registered as a cleanup on cancel). */
class PrivateRestore {
    dir;
    disk;
    maxPaths;
    /** Data bytes of the members checked and handed to tar so far, all archives together: the progress of a restore. */
    checkedBytes = 0;
    /** Top-level entries (relative) that were in the store when the restore began: never emitted. */
    existing = new Set();
    /** Top-level entries on disk that the live DB does not register (treatAsLeftovers): emitted
     * like new items; moveIn puts the snapshot's copy in their place only when told to. */
    leftovers = new Set();
    /** What each path of the private dir must be once tar is done (relative to the dir). */
    landed = new Map();
    /** Per archive: the new top-level items (relative) it emitted. */
    emitted = new Map();
    /** Per archive: new items that hard-link to a file of an item already in the store (whose
     * members are never emitted, so the link has nothing of ours to point at): not restored. */
    dropped = new Map();
    /** The walk's inode of each emitted top-level item (`<index>/<top>`): how moveIn tells its own
     * item in the store from one that appeared there meanwhile. */
    topInodes = new Map();
    /** Per archive: its entry (ExtractJob.part), whose tree holds its sub-dir. */
    partOf = new Map();
    /** Entries whose tree is made. */
    partsMade = new Set();
    /** Members checked so far, all archives and lanes together (see onMember). */
    checkedMembers = 0;
    unregister;
    closed = false;
    moved = false;
    /** The parent's mtime before the private dir was made in it (sec.nsec). */
    parentMtime;
    /**
     * `<dir>/tree` (root's, 0700): one tree per entry of the restore, `<tree>/<part>`, where that
     * entry's confined tars write (and nothing else of theirs can: a delta's tar cannot reach
     * its base's files, nor the other way round), its confined ids' until verifyLanded gives it
     * to root. Inside `dir` (root's, 0700), so no other process reaches it by path while it is
     * that uid's, whatever the tars do to its mode. Every path of `landed` is relative to it.
     */
    tree;
    constructor(dir, 
    /** The store paths' real locations: every change to the store is made there. */
    disk, maxPaths) {
        this.dir = dir;
        this.disk = disk;
        this.maxPaths = maxPaths;
        this.tree = external_node_path_default().join(dir, 'tree');
        const ns = external_node_fs_default().statSync(external_node_path_default().dirname(dir), { bigint: true }).mtimeNs;
        this.parentMtime = `${ns / 1000000000n}.${String(ns % 1000000000n).padStart(9, '0')}`;
        this.unregister = registerCleanup(() => this.close());
    }
    /** Reaps dead restores' private dirs, makes ours (root, 0700), notes the items the store has. */
    /** `maxPaths`: MAX_MEMBERS; tests lower it to reach it. */
    static async open(disk, place, maxPaths = MAX_MEMBERS) {
        // Made, chowned, walked and renamed from by path: another user able to change the way to it
        // could swap it for a link meanwhile (config.ts refuses such store paths up front already).
        const shared = rootOnlyProblem(place.parent);
        if (shared !== undefined)
            throw new Error(`refusing to make a private dir in ${place.parent}: ${shared}`);
        const reaped = [];
        for (const home of place.homes) {
            const r = await reapPrivateDirs(home);
            reaped.push(...r.reaped);
            if (r.skipped !== undefined)
                core_warning(`runbox store: private dirs of killed restores are not looked for in ${escapedText(home)}: ${escapedText(r.skipped)}, and root deletes nothing in a dir another user may rename things into`);
        }
        const self = procStat(process.pid)?.startTime;
        if (self === undefined)
            throw new Error('cannot read the start time of this process from /proc/self/stat');
        const dir = external_node_path_default().join(place.parent, `${PRIVATE_PREFIX}${process.pid}-${self}`);
        const restore = new PrivateRestore(dir, disk, maxPaths);
        try {
            await checkConfinedIds();
            // One mkdir for both, in order: it fails if the dir exists, before making the tree in it.
            await run('mkdir', ['-m', '0700', '--', dir, restore.tree], { privileged: true });
            for (const [sp, abs] of disk) {
                if (!external_node_fs_default().lstatSync(abs, { throwIfNoEntry: false })?.isDirectory())
                    continue;
                for (const name of external_node_fs_default().readdirSync(abs))
                    restore.existing.add(`${rel(sp)}/${name}`);
            }
        }
        catch (e) {
            await restore.close();
            throw e;
        }
        return { restore, reaped };
    }
    /**
     * Items on disk (absolute) that `isLeftover` says the live DB does not register valid: what an
     * insert killed mid-way or a build cut short leaves, which the daemons treat as invalid and
     * delete (under the item's lock) before they build or substitute that path. Extracted from
     * the snapshot like new items (call before extractAll); moveIn replaces one only when asked
     * (restore.ts: under the item's lock, the DB read again).
     */
    treatAsLeftovers(isLeftover) {
        for (const t of this.existing)
            if (isLeftover(`/${t}`)) {
                this.existing.delete(t);
                this.leftovers.add(t);
            }
    }
    /** The leftovers (absolute) whose whole copy these archives extracted: what moveIn may replace. */
    extractedLeftovers(summaries) {
        const out = new Set();
        for (const { index } of summaries) {
            const dropped = this.dropped.get(index) ?? new Set();
            for (const t of this.emitted.get(index) ?? [])
                if (this.leftovers.has(t) && !dropped.has(t))
                    out.add(`/${t}`);
        }
        return [...out].sort();
    }
    /** New items (absolute) not restored: they hard-link to files of items already in the store. */
    notRestored() {
        return [...this.dropped.values()].flatMap((d) => [...d].map((t) => `/${t}`)).sort();
    }
    /** Refuses before anything is extracted when `needed` bytes do not fit the private dir's filesystem. */
    /**
     * Refuses to go on once the store's filesystem is down to its last 5% (at least 2, at most
     * 64 MiB) of space or inodes: whatever the manifest said, a restore never fills it.
     */
    checkHeadroom() {
        const s = external_node_fs_default().statfsSync(this.dir);
        // At least HEADROOM_MIN_BYTES: tar writes what node checked a pipe's and a chunk's worth later.
        const reserve = Math.max(HEADROOM_MIN_BYTES, Math.min(HEADROOM_BYTES, s.blocks * s.bsize * 0.05));
        const inodeReserve = Math.min(HEADROOM_INODES, s.files * 0.05);
        if (s.bavail * s.bsize < reserve || (s.files > 0 && s.ffree < inodeReserve))
            throw new SpaceError(`the store's filesystem is nearly full while extracting (${s.bavail * s.bsize} bytes and ${s.ffree} inodes left; runbox stops at ${Math.round(reserve)} bytes or ${Math.round(inodeReserve)} inodes); nothing reached the store`);
    }
    async checkSpace(needed) {
        const free = private_extract_freeBytes(this.dir);
        if (needed > free)
            throw new SpaceError(`the snapshot needs about ${needed} bytes on ${await filesystemOf(this.dir)}, which has ${free} free; nothing was extracted`);
    }
    /**
     * A tar failure that was the filesystem filling up (ENOSPC, or tar's short write, which is how
     * it reports one), told the same way as checkSpace's refusal. Called before the private dir
     * is removed, so the free space seen is what the extraction left.
     */
    async spaceError(e, needed) {
        const message = e instanceof Error ? e.message : String(e);
        const free = private_extract_freeBytes(external_node_fs_default().existsSync(this.dir) ? this.dir : external_node_path_default().dirname(this.dir));
        if (!/No space left on device|ENOSPC|Wrote only \d+ of \d+ bytes/.test(message) && free >= 1024 * 1024)
            return undefined;
        return new SpaceError(`the store's filesystem (${await filesystemOf(external_node_path_default().dirname(this.dir))}) ran out of space while extracting (${needed === undefined ? 'the snapshot records no size' : `about ${needed} bytes needed`}, ${free} bytes left free); the private dir is removed, the store was left untouched`);
    }
    expect(p, l) {
        if (this.landed.size >= this.maxPaths && !this.landed.has(p))
            throw new UnsafeArchiveError(p, `is past the ${this.maxPaths} paths one restore may extract, all its archives together`);
        this.landed.set(p, l);
    }
    /** One archive: `extract` does one, `extractAll` many. */
    async extract(index, src, rec, rules) {
        return (await this.extractAll([{ index, src, rec, rules }], 1))[0];
    }
    /**
     * Checks and extracts the archives, `lanes` of them at a time, into the private dir. Each lane
     * is one root `tar -x` (extractTar) that takes the canonical streams of the archives it pulls
     * from the queue one after another, each under its own sub-dir `<index>/`, which the stream
     * makes with a dir member: a sudo mkdir and a tar per archive cost more than the checking
     * (see BENCHMARKS.md). One `zstd -d` per archive: each is a whole zstd stream, parsed up to its
     * own end. Resolves with each archive's summary (in the order given) once every lane's tar
     * finished; otherwise rejects, once every lane's tar exited (none still writes into the
     * private dir), with the failure of the first archive in the order given that failed. After
     * a failure no lane starts another archive.
     */
    async extractAll(archives, lanes) {
        const summaries = [];
        const failures = new Map();
        const partOf = (i) => archives[i].part ?? 0;
        for (let i = 0; i < archives.length; i++) {
            const part = partOf(i);
            this.partOf.set(archives[i].index, part);
            if (this.partsMade.has(part))
                continue;
            // The entry's own tree, its own ids': the only place its tars can write.
            await makeConfinedDir(external_node_path_default().join(this.tree, String(part)), confinedIds(part));
            this.partsMade.add(part);
            this.expect(String(part), { type: 'd', mode: 0o700, anyMtime: true });
        }
        // The queue: each entry's archives together (a lane's tar serves one entry), the biggest
        // first. Frames differ in size (an item past the frame size has one of its own); taken in
        // entry order, a big one coming last kept one lane busy while the others had nothing left
        // (the longest-first order of list scheduling). The manifest's figure is only a hint here:
        // the stream itself is held to it.
        const order = archives.map((_, i) => i).sort((a, b) => partOf(a) - partOf(b) || archives[b].rec.dataBytes - archives[a].rec.dataBytes || a - b);
        let next = 0;
        // One tar, writing `part`'s tree, for the archives of that entry next in the queue.
        const tarRun = async (part) => {
            let tarIn = () => undefined;
            const tarStdin = new Promise((resolve) => (tarIn = resolve));
            const tar = extractTar(external_node_path_default().join(this.tree, String(part)), part, (stdin) => {
                // EPIPE when tar exits first; tar's exit status is what counts.
                stdin.on('error', () => undefined);
                tarIn(stdin);
                return new Promise((resolve) => {
                    stdin.once('finish', resolve);
                    stdin.once('close', resolve);
                });
            }).then(() => undefined, (e) => e ?? new Error('tar failed'));
            const stdin = await Promise.race([tarStdin, tar.then(() => undefined)]);
            // tar could not even be started: its error is the failure of the archive it was for.
            if (stdin === undefined) {
                failures.set(order[next < archives.length ? next++ : archives.length - 1], await tar);
                return;
            }
            let gone = false;
            stdin.once('close', () => (gone = true));
            let current = -1;
            // Cut off by us (an archive failed): tar's own failure is then a consequence.
            let cut = false;
            let tarNeeded = false;
            while (failures.size === 0 && next < archives.length && partOf(order[next]) === part) {
                current = order[next++];
                try {
                    summaries[current] = await this.streamArchive(archives[current], stdin, () => gone);
                }
                catch (e) {
                    // tar gone before the end of the stream: its exit says why, below.
                    tarNeeded = e instanceof TarGoneError;
                    failures.set(current, e);
                    break;
                }
            }
            if (failures.size === 0)
                stdin.end(endOfArchive());
            else {
                cut = true;
                stdin.destroy();
            }
            const tarFailure = await tar;
            if (tarFailure !== undefined && (tarNeeded || !cut))
                failures.set(Math.max(current, 0), tarFailure);
        };
        // A lane's tar serves one entry; when the queue reaches the next entry (a delta's archives
        // after its base's), the lane starts another tar for it.
        const lane = async () => {
            while (failures.size === 0 && next < archives.length)
                await tarRun(partOf(order[next]));
        };
        await Promise.all(Array.from({ length: Math.max(1, Math.min(lanes, archives.length)) }, lane));
        if (failures.size > 0) {
            const first = Math.min(...failures.keys());
            const failure = failures.get(first);
            throw failure instanceof Error ? failure : new Error(errorMessage(failure));
        }
        return summaries;
    }
    /**
     * One archive's bytes (from `src`: a local file, or a frame streamed from the cache whose
     * chunks are each proven before they are handed on) through `zstd -d`, parsed and checked by
     * node, re-serialized canonically onto a lane's tar stdin under the archive's own sub-dir
     * (no end-of-archive: the lane writes that once). Resolves with the archive's summary once its
     * stream is written and the compressed bytes match the manifest's sha256.
     */
    async streamArchive(job, tarStdin, tarGone) {
        const { index, src, rec, rules } = job;
        // `sub`: the archive's sub-dir in the stream (tar runs in its entry's tree); `at`: the same
        // dir relative to the private dir's tree, where the walk finds it.
        const sub = String(index);
        const at = `${job.part ?? 0}/${index}`;
        const emitted = new Set();
        this.emitted.set(index, emitted);
        const dropped = new Set();
        this.dropped.set(index, dropped);
        // Regular files emitted into THIS archive's stream (relative to its sub-dir): the only
        // names an emitted hard link may point at. Per archive, so a link never reaches another
        // archive's sub-dir, an existing item or anything else on disk.
        const emittedFiles = new Set();
        // Every path of this archive goes under its sub-dir; a hard link's target too (a file of
        // this archive's stream, see emittedFiles). Symlink targets are contents: never rewritten.
        const header = (c) => memberHeader({ ...c, path: `${sub}/${c.path}`, ...(c.kind === 'link' ? { target: `${sub}/${c.target}` } : {}) });
        // The source proves its own digest (a cache entry's frame: the index's sha256, checked over
        // the chunks as they stream); otherwise the bytes are hashed on the way to zstd.
        const hash = src.sha256 === undefined ? (0,external_node_crypto_.createHash)('sha256') : undefined;
        // A chunk that failed its digest (or a download that broke) stops everything: zstd is cut
        // off before the chunk's first byte, and that is the error told, not zstd's truncation.
        let sourceError;
        async function* guarded() {
            try {
                yield* src.open();
            }
            catch (e) {
                sourceError = e;
                throw e;
            }
        }
        const validator = new MemberValidator(rules);
        // The archive's sub-dir, then the store paths and their parents: made here, so tar never
        // makes a dir on its own.
        let out = [memberHeader({ path: sub, kind: 'dir', size: 0, executable: false })];
        this.expect(at, { type: 'd', mode: canonicalMode({ kind: 'dir', executable: false }) });
        const made = new Set();
        for (const sp of rules.storePaths) {
            const parts = rel(sp).split('/');
            for (let i = 1; i <= parts.length; i++) {
                const d = parts.slice(0, i).join('/');
                if (made.has(d))
                    continue;
                made.add(d);
                out.push(header({ path: d, kind: 'dir', size: 0, executable: false }));
                this.expect(`${at}/${d}`, { type: 'd', mode: canonicalMode({ kind: 'dir', executable: false }) });
            }
        }
        let dataLeft = 0;
        let size = 0;
        let emitting = false;
        const roots = rules.storePaths.map(rel);
        const topOf = (p) => {
            const r = roots.find((x) => p.startsWith(`${x}/`));
            return `${r}/${p.slice(r.length + 1).split('/')[0]}`;
        };
        let sinceCheck = { members: 0, bytes: 0 };
        // Link anchors (see ArchiveRecord.linkTargets): files of items already in the store that
        // this archive's links point at. The list is attacker-controlled and only a hint: a path
        // listed needlessly costs writing that checked file into the private dir (within the
        // dataBytes bound, like every file); a path left out means the new items linking to it are
        // not restored (the rule below). It never makes runbox read, link to or write anything on
        // disk outside the private dir.
        const anchors = new Set(rec.linkTargets ?? []);
        // Dirs of items already in the store emitted for anchors (canonical, never moved).
        const anchorDirs = new Set();
        const emitAnchor = (c) => {
            const parts = c.path.split('/');
            // Every dir on the way, from below the store path down: the validator saw each as a dir
            // member before this file (and none as a symlink), so these are the archive's own dirs.
            const root = roots.find((r) => c.path.startsWith(`${r}/`));
            for (let i = root.split('/').length + 1; i < parts.length; i++) {
                const d = parts.slice(0, i).join('/');
                if (anchorDirs.has(d))
                    continue;
                anchorDirs.add(d);
                out.push(header({ path: d, kind: 'dir', size: 0, executable: false }));
                this.expect(`${at}/${d}`, { type: 'd', mode: canonicalMode({ kind: 'dir', executable: false }) });
            }
            out.push(header(c));
            emittedFiles.add(c.path);
            this.expect(`${at}/${c.path}`, { type: 'f', mode: canonicalMode(c), size: c.size, links: 1 });
        };
        const onMember = (m) => {
            const c = validator.check(m);
            if (validator.summary.members > MAX_MEMBERS)
                throw new UnsafeArchiveError(m.name, `is past the ${MAX_MEMBERS} members one archive may hold`);
            // Members that are checked but never extracted (an item the store has, a `.lock` entry)
            // cost the validators' memory too, in every lane at once: one budget for the whole restore.
            if (++this.checkedMembers > this.maxPaths)
                throw new UnsafeArchiveError(m.name, `is past the ${this.maxPaths} members one restore may check, all its archives together`);
            // The check before extracting counts data bytes; many small files cost blocks and inodes
            // it cannot see. So the filesystem itself is asked as the stream goes on.
            sinceCheck = { members: sinceCheck.members + 1, bytes: sinceCheck.bytes + m.size };
            if (sinceCheck.members >= 16 || sinceCheck.bytes >= 1024 * 1024) {
                sinceCheck = { members: 0, bytes: 0 };
                this.checkHeadroom();
            }
            if (validator.summary.dataBytes > rec.dataBytes)
                throw new UnsafeArchiveError(m.name, `takes the archive's data past the ${rec.dataBytes} bytes its manifest records`);
            dataLeft = m.size;
            size = m.size;
            this.checkedBytes += m.size;
            if (!c)
                return void (emitting = false);
            const top = topOf(c.path);
            if (this.existing.has(top)) {
                // A file of an item the store has, named a link anchor: written into the private dir
                // (never moved, never registered), so a new item's later link to it lands on the
                // snapshot's data; the anchor goes with the private dir, the link keeps the inode.
                emitting = c.kind === 'file' && anchors.has(c.path);
                if (emitting)
                    emitAnchor(c);
                return;
            }
            emitting = !dropped.has(top);
            if (!emitting)
                return;
            if (c.kind === 'link') {
                const target = c.target;
                // The validator saw the target as a file of this archive; it was not emitted when its
                // item is already in the store. Linking to the store's copy would trust a file on disk
                // (and one the snapshot does not own), a copy would not be what the snapshot holds:
                // this item is not restored. What it emitted so far stays in the private dir, which
                // is removed whole; moveIn skips it.
                if (!emittedFiles.has(target)) {
                    dropped.add(top);
                    emitting = false;
                    return;
                }
                const original = this.landed.get(`${at}/${target}`);
                original.links = (original.links ?? 1) + 1;
                out.push(header(c));
                emitted.add(top);
                this.expect(`${at}/${c.path}`, { type: 'f', mode: canonicalMode(c), size: original.size, sameAs: `${at}/${target}` });
                return;
            }
            out.push(header(c));
            emitted.add(top);
            if (c.kind === 'file')
                emittedFiles.add(c.path);
            this.expect(`${at}/${c.path}`, {
                type: c.kind === 'file' ? 'f' : c.kind === 'dir' ? 'd' : 'l',
                mode: canonicalMode(c),
                ...(c.kind === 'file' ? { size: c.size, links: 1 } : {}),
                ...(c.target !== undefined ? { target: c.target } : {})
            });
        };
        const onData = (chunk) => {
            dataLeft -= chunk.length;
            if (!emitting)
                return;
            out.push(chunk);
            if (dataLeft === 0)
                out.push(padding(size));
        };
        const parser = new TarParser(onMember, (chunk) => onData(chunk));
        let checkError;
        let truncated = false;
        const send = async () => {
            const batch = out;
            out = [];
            if (batch.length === 0)
                return;
            // Before the end of our stream, tar gone means tar failed: its exit says why.
            if (tarGone())
                throw new TarGoneError();
            // Corked: the batch (headers, padding and data of the members in one zstd read) goes to
            // tar's pipe in one writev, not a syscall per piece. Waited for until written: the data
            // pieces are views of the buffer zstd's output is read into, which the next read reuses.
            let written = Promise.resolve();
            tarStdin.cork();
            batch.forEach((b, i) => {
                if (i < batch.length - 1)
                    tarStdin.write(b);
                else
                    written = new Promise((resolve) => tarStdin.write(b, () => resolve()));
            });
            tarStdin.uncork();
            await writtenOrClosed(tarStdin, written);
        };
        let unpackFailure;
        // At most the window save uses: a frame asking for more is refused before zstd allocates it.
        await pipeline_runPipeline([{ cmd: 'zstd', args: ['-d', '-q', '-c', `--memory=${2 ** ZSTD_WINDOW_LOG / 2 ** 20}MB`] }], {
            // Each piece written whole before the next is asked for: the source reads into the same
            // few buffers again (entry/reader.ts fileChunks), so nothing may still hold the last one.
            feed: async (stdin) => {
                // zstd exiting early (a corrupt frame, a window past the bound) makes the pending write
                // fail with EPIPE: its callback says so; unlistened, the 'error' would end the process.
                stdin.on('error', () => undefined);
                for await (const b of guarded()) {
                    hash?.update(b);
                    await writeWhole(stdin, b);
                }
                stdin.end();
                await (0,promises_namespaceObject.finished)(stdin);
            },
            consumeInto: {
                buffer: Buffer.allocUnsafe(private_extract_READ_BUFFER_BYTES),
                onChunk: async (chunk) => {
                    try {
                        parser.write(chunk);
                    }
                    catch (e) {
                        checkError = e;
                        throw e;
                    }
                    await send();
                },
                onEnd: async () => {
                    // Cut short: zstd failing (a corrupt frame, a window over the bound) says why better
                    // than the parser can; the lane cuts tar off.
                    if (!parser.ended) {
                        truncated = true;
                        return;
                    }
                    try {
                        validator.finish();
                    }
                    catch (e) {
                        checkError = e;
                        throw e;
                    }
                    await send();
                }
            }
        }).catch((e) => (unpackFailure = e ?? new Error('zstd failed')));
        // A refused member is the cause of everything else failing; a stream cut short is zstd's
        // failure or else a truncated archive; then tar gone (the lane tells tar's own error).
        if (truncated && checkError === undefined && unpackFailure === undefined)
            try {
                parser.end();
            }
            catch (e) {
                checkError = e;
            }
        const failure = sourceError ?? checkError ?? unpackFailure;
        if (failure === undefined)
            checkDigest(src.sha256 ?? hash.digest('hex'), rec);
        else if (sourceError === undefined && !(failure instanceof TarGoneError) && src.reread) {
            // A reread that fails (the cache gone meanwhile) says nothing about the archive: the
            // extract's own failure is told instead.
            const again = await src.reread().catch(() => undefined);
            if (again !== undefined)
                checkDigest(again, rec);
        }
        if (failure !== undefined)
            throw failure instanceof Error ? failure : new Error(errorMessage(failure));
        return validator.finish();
    }
    /**
     * Gives the private dir to root, walks it without following anything and refuses unless it holds
     * exactly what was emitted, each path with its canonical type, owner, mode, size, mtime and
     * symlink target; each emitted file with exactly its emitted link count, and each emitted
     * hard link the same inode as the file it was emitted to.
     */
    async verifyLanded() {
        // First root's: every tar has exited and its pid namespace with it, so no process of the
        // confined uid is left to change the tree, and none of it can be a file from elsewhere
        // (sys/confined.ts). The walk then checks the tree as it will be moved, owner included.
        await giveToRoot(this.tree);
        const seen = new Set();
        const inodes = new Map();
        let rest = '';
        let problem;
        const check = (rec, target) => {
            const f = rec.split('\t');
            const p = f.slice(8).join('\t');
            const want = this.landed.get(p);
            seen.add(p);
            if (!want)
                return void (problem ??= `'${p}' is in the private dir, but was never emitted`);
            const [type, uid, gid, mode, size, mtime, ino, nlink] = f;
            // A file's link count is exact: 1, or 1 + the links emitted to it. A link is checked for
            // its inode below (the same inode has the same count).
            const links = want.links !== undefined;
            if (want.sameAs !== undefined || links)
                inodes.set(p, ino);
            // `<part>/<index>/<top>`: an emitted item's inode, keyed `<index>/<top>` for moveIn.
            const m = /^[0-9]+\/([0-9]+)\/(.*)$/s.exec(p);
            if (m && this.emitted.get(Number(m[1]))?.has(m[2]))
                this.topInodes.set(`${m[1]}/${m[2]}`, ino);
            const got = `${type} ${uid}:${gid} ${mode}${want.size !== undefined ? ` ${size}` : ''}${links ? ` x${nlink}` : ''} @${Number(mtime)}${want.target !== undefined ? ` -> ${target}` : ''}`;
            const exp = `${want.type} 0:0 ${want.mode.toString(8)}${want.size !== undefined ? ` ${want.size}` : ''}${links ? ` x${want.links}` : ''} @${want.anyMtime ? Number(mtime) : CANONICAL_MTIME}${want.target !== undefined ? ` -> ${want.target}` : ''}`;
            if (got !== exp)
                problem ??= `'${p}' landed as ${got}, not ${exp}`;
        };
        const fields = [];
        await pipeline_runPipeline([{ cmd: 'find', args: [this.tree, '-mindepth', '1', '-printf', '%y\\t%U\\t%G\\t%m\\t%s\\t%T@\\t%i\\t%n\\t%P\\0%l\\0'], privileged: true }], {
            consume: async (stdout) => {
                // One decoder for the whole stream: a chunk may end inside a multi-byte character,
                // which decoded on its own would become U+FFFD (and a legit name "never emitted").
                const decoder = new external_node_string_decoder_namespaceObject.StringDecoder('utf8');
                for await (const chunk of stdout) {
                    const parts = (rest + decoder.write(chunk)).split('\0');
                    rest = parts.pop() ?? '';
                    fields.push(...parts);
                    while (fields.length >= 2) {
                        const [rec, target] = fields.splice(0, 2);
                        check(rec, target);
                    }
                }
            }
        });
        if (rest !== '' || fields.length > 0)
            problem ??= 'the walk of the private dir ended mid-record';
        for (const p of this.landed.keys())
            if (!seen.has(p))
                problem ??= `'${p}' was emitted but is not in the private dir`;
        // One filesystem (the private dir's), so the inode number alone names the file.
        for (const [p, want] of this.landed)
            if (want.sameAs !== undefined && inodes.get(p) !== inodes.get(want.sameAs))
                problem ??= `'${p}' is not the same file as '${want.sameAs}', which it was emitted as a hard link to`;
        if (problem !== undefined)
            throw new UnsafeArchiveError(problem.split("'")[1] ?? '', `: what tar extracted differs from what was checked (${escapedText(problem)})`);
    }
    /**
     * Renames the new items in; makes the store dirs that do not exist yet (root:root 0755).
     * Never replaces anything but the leftovers in `replace` (see displace): a name the store has
     * by now is left alone, and one that appears between that check and the rename (root or the
     * build group writing the store while the daemon is stopped) too: the rename itself refuses
     * to replace (moveAll). Such an item is not added (so never registered) and is told in a
     * warning. Returns the items added (absolute), how many were already there, and which of
     * `replace` were replaced by the snapshot's copy (they are in `added` too).
     */
    async moveIn(summaries, replace = new Set()) {
        this.moved = true;
        const added = [];
        let existing = 0;
        for (const r of new Set(summaries.flatMap((s) => s.summary.roots)))
            await this.makeStoreDir(r);
        const displaced = await this.displace(this.extractedLeftovers(summaries).filter((t) => replace.has(t)));
        // Every archive's items for one store path go in one rename batch (moveAll): an `mv` per
        // archive and store path cost a process start each (a fork of this process, issue 13).
        // Per store path, in archive order: the names to move, and for each archive the positions
        // of its own in that list, so added keeps the order of the archives.
        const batches = new Map();
        const order = [];
        for (const { index, summary } of summaries) {
            const dropped = this.dropped.get(index) ?? new Set();
            // Only whole items: one that lost a hard link (see extract) stays behind and is removed.
            const emitted = new Set([...(this.emitted.get(index) ?? [])].filter((t) => !dropped.has(t)));
            for (const top of summary.tops)
                if (!emitted.has(top) && !dropped.has(top))
                    existing++;
            for (const [sp, real] of this.disk) {
                const r = rel(sp);
                const b = batches.get(r) ?? { real, sources: [], tops: [], inodes: [] };
                batches.set(r, b);
                const tops = [...emitted].filter((t) => t.startsWith(`${r}/`)).sort();
                // An item an earlier archive moves in is in the store by the time this one's would be
                // renamed: counted as there already, as a rename of it after the earlier one would.
                const queued = new Set(b.tops);
                const fresh = tops.filter((t) => !queued.has(t) && !external_node_fs_default().lstatSync(onStoreDisk(this.disk, `/${t}`), { throwIfNoEntry: false }));
                existing += tops.length - fresh.length;
                const from = b.tops.length;
                for (const t of fresh) {
                    b.sources.push(external_node_path_default().join(this.tree, String(this.partOf.get(index) ?? 0), String(index), t));
                    b.tops.push(t);
                    b.inodes.push(this.topInodes.get(`${index}/${t}`));
                }
                order.push({ r, from, to: b.tops.length });
            }
        }
        const keptOf = new Map();
        for (const [r, b] of batches) {
            const kept = await this.moveAll(b.sources, b.real, b.inodes);
            keptOf.set(r, kept);
            existing += kept.size;
            if (kept.size > 0)
                core_warning(`runbox store: ${kept.size} item(s) appeared in the store while this restore renamed its items in (something else wrote the store while its daemon was stopped); they were left as they are and not registered: ${[
                    ...kept
                ]
                    .slice(0, 5)
                    .map((i) => `/${b.tops[i]}`)
                    .join(', ')}`);
        }
        for (const { r, from, to } of order) {
            const b = batches.get(r);
            const kept = keptOf.get(r);
            for (let i = from; i < to; i++)
                if (!kept.has(i))
                    added.push(`/${b.tops[i]}`);
        }
        const addedSet = new Set(added);
        return { added, existing, replaced: displaced.filter((t) => addedSet.has(t)) };
    }
    /**
     * Renames the leftovers `items` (absolute) out of the store into `<dir>/displaced/`, removed
     * with the private dir, so that moveIn renames the snapshot's copies in. Never deleted in
     * place: a rename moves whatever is at that name (a link swapped in too) and follows nothing,
     * and the private dir is on the store's filesystem, so nothing is copied. One that stays (a
     * mount point: EBUSY) is then counted as existing by moveIn. Returns those that left.
     */
    async displace(items) {
        const onDisk = (t) => external_node_fs_default().lstatSync(onStoreDisk(this.disk, t), { throwIfNoEntry: false }) !== undefined;
        const present = items.filter(onDisk);
        if (present.length === 0)
            return [];
        const dest = external_node_path_default().join(this.dir, 'displaced');
        await run('mkdir', ['-m', '0700', '--', dest], { privileged: true });
        // The leftovers are all in the store dir (restore.ts), each name once, so `-n` never meets a
        // name in the fresh dir; what left the store is read from the store below, not from mv.
        for (let i = 0; i < present.length; i += 256)
            await pipeline_runPipeline([{ cmd: 'mv', args: ['-n', '-t', dest, '--', ...present.slice(i, i + 256).map((t) => onStoreDisk(this.disk, t))], privileged: true }]).catch((e) => core_warning(`runbox store: moving unregistered items out of the store failed for some (they stay as they are, not registered): ${escapedText(errorMessage(e))}`));
        return present.filter((t) => !onDisk(t));
    }
    /**
     * Makes `r` (relative store path) and its missing parents as root:root 0755 at its real
     * location: from the first missing one down, each named to one `install -d`, which makes them
     * in that order.
     */
    async makeStoreDir(r) {
        let cur = '';
        const missing = [];
        for (const part of rel(onStoreDisk(this.disk, `/${r}`)).split('/')) {
            cur = `${cur}/${part}`;
            if (missing.length > 0) {
                missing.push(cur);
                continue;
            }
            const st = external_node_fs_default().lstatSync(cur, { throwIfNoEntry: false });
            if (st?.isDirectory())
                continue;
            if (st)
                throw new UnsafeArchiveError(r, `needs ${cur} to be a real directory, but it is not`);
            missing.push(cur);
        }
        if (missing.length > 0)
            await run('install', ['-d', '-m', '0755', '-o', '0', '-g', '0', '--', ...missing], { privileged: true });
    }
    /**
     * `mv -n -t dest` as root, in batches of names. Through runPipeline so that a cancel kills it
     * (sudo passes the signal on to mv): no rename may land after the daemon was started again.
     * `-n` is renameat2(RENAME_NOREPLACE) in GNU mv: the kernel refuses to replace a name that
     * exists, with no window between a check and the rename. Which sources were not moved is read
     * from the destination: a name there whose inode is not the one the walk saw (`inodes`, by
     * position) is not ours. Returns their positions. Some coreutils versions exit 1 when -n
     * skips a name: that failure is ignored when every source of the batch is accounted for.
     */
    async moveAll(sources, dest, inodes) {
        const kept = new Set();
        for (let i = 0; i < sources.length;) {
            // As many names as fit 256 KiB of arguments (a store's thousands of items in a few
            // processes, not one per 256), well under the kernel's limit for a command line.
            let end = i;
            for (let bytes = 0; end < sources.length && (end === i || bytes + sources[end].length < MOVE_ARG_BYTES); end++)
                bytes += sources[end].length + 1;
            const batch = sources.slice(i, end);
            const failure = await pipeline_runPipeline([{ cmd: 'mv', args: ['-n', '-t', dest, '--', ...batch], privileged: true }]).then(() => undefined, (e) => e);
            let unaccounted = false;
            batch.forEach((src, j) => {
                const st = external_node_fs_default().lstatSync(external_node_path_default().join(dest, external_node_path_default().basename(src)), { throwIfNoEntry: false, bigint: true });
                if (!st)
                    unaccounted = true;
                else if (st.ino.toString() !== inodes[i + j])
                    kept.add(i + j);
            });
            if (failure !== undefined && unaccounted)
                throw failure instanceof Error ? failure : new Error(errorMessage(failure));
            i = end;
        }
        return kept;
    }
    async close() {
        if (this.closed)
            return;
        this.closed = true;
        this.unregister();
        await removeTree(this.dir);
        // The private dir leaves no trace, not even the parent's mtime: the store dir's parent is
        // outside the store. A store dir that holds it (a mount point) and got new items keeps its new mtime.
        const parent = external_node_path_default().dirname(this.dir);
        const isStoreDir = [...this.disk.values()].includes(parent);
        if (!(this.moved && isStoreDir))
            await run('touch', ['-h', '-c', '-d', `@${this.parentMtime}`, '--', parent], { privileged: true });
    }
}

;// CONCATENATED MODULE: ./src/lock/store-item-locks.ts
// The daemons' own lock on a store item. Nix and guix-daemon take an exclusive flock(2) on
// `<item>.lock` beside the item (in the store dir) before they build or substitute it, and
// delete an invalid item only under that lock. A restore that replaces an item on disk the DB
// does not register must hold the same lock, or it could rename away a path a build is still
// writing (the daemon restarted by socket activation, or a build its stop left running).
//
// The store dir is root's (1775 in multi-user installs, the build users' group may write it),
// so the lock files are opened by a root helper (itemLockHelper's own source run by `node -e`,
// through `sudo -n` when runbox is not root, like root-files.ts), which holds them until its
// stdin closes: killed with runbox, the locks go with it. flock(2) through util-linux
// `flock -n 3` on the opened fd, as flock.ts does.


/**
 * The lock helper, run as root: its own source is the script `node -e` runs (through `sudo -n`
 * when runbox is not root), so it uses nothing but its parameters. `dir`: the store dir (its
 * real location). stdin: one line, a JSON array of item names; then stdin stays open while the
 * locks are held. stdout: one JSON line per name (a LockAnswer and the name), then
 * {"ready":true}. A lock file is opened O_NOFOLLOW|O_NONBLOCK (O_CREAT only with O_EXCL, which
 * follows no link either) and kept only when fstat says: a regular file, one link, owned by
 * root or by the store dir's owner. After flock, the path must still name that inode and it
 * must be empty: the daemons write a byte into a lock file they delete (a stale lock). Files
 * it made are marked stale and removed the same way before the locks are released.
 */
function itemLockHelper(fs, spawnSync, proc, dir) {
    const { O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
    const d = fs.lstatSync(dir);
    if (!d.isDirectory()) {
        proc.stderr.write(`${dir} is not a directory\n`);
        proc.exit(3);
    }
    const held = [];
    const refused = (why) => ({ state: 'refused', why });
    const codeOf = (e) => String(e.code);
    // The lock file of one name, opened and checked; an answer when refused, undefined to try again.
    const openOne = (name) => {
        if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || /[/\0]/.test(name))
            return refused('not a store item name');
        const p = `${dir}/${name}.lock`;
        let fd;
        let made = false;
        try {
            fd = fs.openSync(p, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK, 0o600);
            made = true;
        }
        catch (e) {
            if (codeOf(e) !== 'EEXIST')
                return refused(`cannot be made (${codeOf(e)})`);
            const st = fs.lstatSync(p, { throwIfNoEntry: false });
            if (st === undefined)
                return undefined;
            if (st.isSymbolicLink())
                return refused('is a symbolic link');
            if (!st.isFile())
                return refused('is not a regular file');
            try {
                fd = fs.openSync(p, O_RDWR | O_NOFOLLOW | O_NONBLOCK);
            }
            catch (e2) {
                if (codeOf(e2) === 'ENOENT')
                    return undefined;
                return refused(codeOf(e2) === 'ELOOP' ? 'is a symbolic link' : `cannot be opened (${codeOf(e2)})`);
            }
        }
        const st = fs.fstatSync(fd);
        const bad = !st.isFile()
            ? 'is not a regular file'
            : st.nlink !== 1
                ? `has ${st.nlink} hard links`
                : st.uid !== 0 && st.uid !== d.uid
                    ? `belongs to uid ${st.uid}, not to root or the store`
                    : undefined;
        if (bad !== undefined) {
            fs.closeSync(fd);
            return refused(bad);
        }
        return { p, fd, made, ino: st.ino, dev: st.dev };
    };
    // flock -n on each fd (util-linux, as lock/flock.ts), 128 fds to one sh: a spawn from node per
    // fd cost about 10 ms of CPU, with the daemon stopped. Each exit code (or why flock did not run), in order.
    const flockAll = (fds) => {
        const codes = [];
        for (let i = 0; i < fds.length; i += 128) {
            const batch = fds.slice(i, i + 128);
            const r = spawnSync('sh', ['-c', 'for fd do flock -x -n -E 75 "$fd"; echo $?; done', 'sh', ...batch.map((_, k) => String(3 + k))], {
                stdio: ['ignore', 'pipe', 'pipe', ...batch],
                encoding: 'utf8'
            });
            const got = String(r.stdout)
                .split('\n')
                .filter((l) => l !== '');
            batch.forEach((_, k) => codes.push(got[k] === undefined ? `flock did not run (${r.error ? r.error.message : `exit ${r.status}`}): ${String(r.stderr).trim()}` : Number(got[k])));
        }
        return codes;
    };
    const lockAll = (names) => {
        const results = new Map();
        let pending = names;
        for (let attempt = 0; attempt < 5 && pending.length > 0; attempt++) {
            const again = [];
            const opened = [];
            for (const name of pending) {
                const o = openOne(name);
                if (o === undefined)
                    again.push(name);
                else if ('state' in o)
                    results.set(name, o);
                else
                    opened.push({ name, ...o });
            }
            const codes = flockAll(opened.map((o) => o.fd));
            opened.forEach((o, k) => {
                const code = codes[k];
                if (code !== 0) {
                    fs.closeSync(o.fd);
                    results.set(o.name, code === 75 ? { state: 'busy' } : refused(typeof code === 'string' ? code : `flock failed (exit ${code})`));
                    return;
                }
                const now = fs.lstatSync(o.p, { throwIfNoEntry: false });
                // Deleted or marked stale by its holder meanwhile: a lock on it guards nothing.
                if (now === undefined || now.ino !== o.ino || now.dev !== o.dev || fs.fstatSync(o.fd).size !== 0) {
                    fs.closeSync(o.fd);
                    again.push(o.name);
                    return;
                }
                held.push(o);
                results.set(o.name, { state: 'locked' });
            });
            pending = again;
        }
        for (const name of pending)
            results.set(name, { state: 'busy', why: 'its lock file was replaced again and again' });
        return names.map((name) => ({ name, ...results.get(name) }));
    };
    let input = '';
    let started = false;
    proc.stdin.setEncoding('utf8');
    proc.stdin.on('data', (s) => {
        if (started)
            return;
        input += s;
        const nl = input.indexOf('\n');
        if (nl < 0)
            return;
        started = true;
        const asked = JSON.parse(input.slice(0, nl));
        if (!Array.isArray(asked)) {
            proc.stderr.write('expected a JSON array of item names\n');
            proc.exit(3);
        }
        const out = lockAll(asked).map((r) => `${JSON.stringify(r)}\n`);
        proc.stdout.write(`${out.join('')}${JSON.stringify({ ready: true })}\n`);
    });
    proc.stdin.on('end', () => {
        for (const h of held) {
            const now = fs.lstatSync(h.p, { throwIfNoEntry: false });
            if (h.made && now !== undefined && now.ino === h.ino && now.dev === h.dev) {
                fs.writeSync(h.fd, 'd');
                fs.unlinkSync(h.p);
            }
            fs.closeSync(h.fd);
        }
        proc.exit(0);
    });
}
const store_item_locks_SCRIPT = `(${itemLockHelper.toString()})(require('node:fs'), require('node:child_process').spawnSync, process, process.argv[1]);`;
/** Most bytes of answer read from the helper: a line of a few hundred bytes per name. */
const answerBytes = (names) => 64 * 1024 + names.reduce((n, s) => n + 2 * Buffer.byteLength(s) + 512, 0);
/**
 * Tries (never waits) to take the daemons' lock `<storeDir>/<name>.lock` of each item `name`
 * (top-level names in the store dir `storeDir`, its real location). Resolves once each was
 * tried; the locks stay held until release(). Rejects, holding nothing, when the helper could
 * not run or answered something else.
 */
async function lockStoreItems(storeDir, names) {
    const { child, shown } = startProcess(process.execPath, ['-e', store_item_locks_SCRIPT, storeDir], { privileged: true });
    let stderr = '';
    child.stderr?.on('data', (b) => (stderr = (stderr + b.toString()).slice(-4096)));
    const closed = new Promise((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (code, signal) => resolve({ code, signal }));
    });
    const failed = (what) => new Error(`the store item lock helper (${shown}) ${what}${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
    const release = async () => {
        child.stdin?.end();
        const end = await closed;
        if (end.code !== 0)
            throw failed(`ended with ${end.signal ?? `exit ${end.code}`}`);
    };
    // EPIPE when the helper is gone early: its exit says why.
    child.stdin?.on('error', () => undefined);
    child.stdin?.write(`${JSON.stringify(names)}\n`);
    const lines = [];
    const ready = await new Promise((resolve) => {
        let rest = '';
        let bytes = 0;
        const limit = answerBytes(names);
        // Decoded as a stream: a chunk may end inside a multi-byte character of a name.
        child.stdout?.setEncoding('utf8');
        child.stdout?.on('data', (text) => {
            bytes += Buffer.byteLength(text);
            if (bytes > limit) {
                child.kill('SIGKILL');
                return resolve(false);
            }
            const parts = (rest + text).split('\n');
            rest = parts.pop() ?? '';
            lines.push(...parts);
            if (parts.includes('{"ready":true}'))
                resolve(true);
        });
        void closed.then(() => resolve(false), () => resolve(false));
    });
    if (!ready) {
        child.stdin?.end();
        const end = await closed.catch((e) => ({ code: null, signal: null, error: e }));
        throw failed('error' in end ? `could not be run (${String(end.error)})` : `ended before it answered (${end.signal ?? `exit ${end.code}`})`);
    }
    const locked = new Set();
    const busy = [];
    const refused = [];
    const asked = new Set(names);
    try {
        for (const line of lines.slice(0, lines.indexOf('{"ready":true}'))) {
            const a = JSON.parse(line);
            if (typeof a.name !== 'string' || !asked.has(a.name))
                throw failed('answered for a name it was not asked about');
            if (a.state === 'locked')
                locked.add(a.name);
            else if (a.state === 'busy')
                busy.push(a.name);
            else
                refused.push({ name: a.name, why: typeof a.why === 'string' ? a.why : 'refused' });
        }
    }
    catch (e) {
        // Nothing of an answer not understood is used: the locks go at once.
        await release().catch((r) => info(`runbox store: ${r instanceof Error ? r.message : String(r)}`));
        throw e;
    }
    return { locked, busy, refused, release };
}

;// CONCATENATED MODULE: ./src/store/restore.ts
// Main: look the snapshot up, read its index, manifest and registrations, decide which archives
// (frames) hold an item the store lacks, stream only those from the cache (each chunk proven by
// the index before zstd sees it), check and extract them into a private dir
// (private-extract.ts), and only then stop the daemon, move the new items in and register them
// in the DB. Any problem with the cache or
// the snapshot is a warning and counts as a miss; only a daemon that cannot be started again
// (or fail-on-cache-miss) fails the step.




























/** Lanes of extraction at once: each is one root tar, fed one archive after another, each through its own zstd (PrivateRestore.extractAll). */
function extractConcurrency() {
    return Math.max(1, Math.min(8, external_node_os_default().availableParallelism()));
}
/** Free space asked for beyond the recorded data: block rounding, dirs, symlinks. */
function spaceNeeded(dataBytes) {
    return dataBytes + Math.ceil(dataBytes / 8) + 1024 * 1024;
}
/**
 * Checks and extracts a downloaded snapshot into a private dir, then moves its new items into
 * the store and merges its DB (see private-extract.ts). A delta is applied together with its
 * base as one snapshot of several archives: each is checked on its own, then no item may be in
 * two of them; the DBs are merged base first.
 */
async function applySnapshot(o) {
    const t0 = Date.now();
    const { parts, specs: all } = readParts(o);
    // Resolved once, up front: a /gnu moved to another disk and linked back by root is followed
    // here, any other link refused; from here on the store is changed at its real paths only.
    const disk = realStorePaths(o.root, storeDirFirst(o.kind, o.storePaths));
    const { restore: priv, reaped } = await PrivateRestore.open(disk, privatePlace(o.root, disk));
    if (reaped.length > 0)
        info(`runbox store: removed ${reaped.length} private dir(s) of restores that were killed: ${reaped.join(', ')}`);
    let registrationsRead;
    try {
        const { specs, skipped, valid } = await selectFrames(o, disk, all);
        // Items on disk the live DB does not register (a restore killed between its move and its
        // insert, a build cut short): the daemons' invalid leftovers. Their copies are extracted, to
        // replace them under their own lock (moveInAndRegister). Only when a live DB was read: a
        // store without one registers nothing, and its items on disk stay as they are.
        const storeDir = PRESETS[o.kind].storeDir;
        if (valid)
            priv.treatAsLeftovers((item) => item.startsWith(`${storeDir}/`) && !external_node_path_default().basename(item).startsWith('.') && !valid.has(item));
        const needed = spaceNeeded(specs.reduce((n, a) => n + a.rec.dataBytes, 0));
        await priv.checkSpace(needed);
        // Read beside the extraction (its own zstd; the file is in the snapshot dir already), not
        // after it: it is the one step between the walk and the move that needs no other.
        registrationsRead = readPartRegistrations(o, parts);
        // Its failure is told below, once the archives' own were; it never goes unheard.
        registrationsRead.catch(() => undefined);
        const archives = await extractAll(o, priv, specs, needed);
        checkItemsListed(archives, all.map((a) => ({ index: a.index, items: a.rec.items })));
        checkShardsApart(archives.map((a) => a.summary));
        await priv.verifyLanded();
        const registrations = await registrationsRead;
        const left = reportLeftOut(archives, priv);
        const verifyMs = Date.now() - t0;
        await ensurePrivilege('restore a store snapshot into root-owned store paths');
        const moved = await moveInAndRegister(o, disk, priv, archives, registrations);
        const delta = parts[parts.length - 1].manifest.base;
        const fullTops = new Set([
            ...archives.filter((a) => a.part === 0).flatMap((a) => [...a.summary.tops]),
            ...skipped.filter((a) => a.part === 0).flatMap((a) => (a.rec.items ?? []).map((i) => i.replace(/^\/+/, '')))
        ]);
        const skippedBytes = skipped.reduce((n, a) => n + a.rec.bytes, 0);
        return {
            compressedBytes: parts.reduce((n, p) => n + manifestBytes(p.manifest), 0) - skippedBytes,
            frames: { read: specs.length, total: all.length },
            skippedBytes,
            dataBytes: archives.reduce((n, a) => n + a.summary.dataBytes, 0),
            added: moved.added,
            existing: moved.existing + skipped.reduce((n, a) => n + (a.rec.items?.length ?? 0), 0),
            ...(moved.db ? { db: moved.db } : {}),
            verifyMs,
            extractMs: moved.extractMs,
            dbMs: moved.dbMs,
            ...left,
            reaped,
            ...(delta ? { deltaOf: delta.key } : {}),
            full: { bytes: manifestBytes(parts[0].manifest), items: [...fullTops].map((t) => `/${t}`).sort() }
        };
    }
    finally {
        // Nothing of this restore still runs when it ends, whichever way it ends.
        await registrationsRead?.catch(() => undefined);
        await priv.close();
    }
}
/** The snapshot's manifest (and a delta's base's, first), checked, and the archives they list. */
function readParts(o) {
    const expect = { kind: o.kind, storePaths: o.storePaths, ...(o.dbDir ? { dbDir: o.dbDir } : {}) };
    const files = o.files ?? localFiles(o.snapshotDir);
    const manifest = readManifest(o.snapshotDir, expect, (name) => files.sizeOf(name));
    const parts = [];
    if (manifest.base) {
        if (!o.baseDir)
            throw new ManifestError(`it is a delta over ${manifest.base.key}, and that base was not fetched`);
        const baseFiles = o.baseFiles ?? localFiles(o.baseDir);
        const base = readManifest(o.baseDir, expect, (name) => baseFiles.sizeOf(name));
        // Depth 1 only: a delta's base must be whole.
        if (base.base)
            throw new ManifestError(`the base ${manifest.base.key} of this delta is itself a delta (over ${base.base.key}); chains are refused`);
        parts.push({ dir: o.baseDir, files: baseFiles, manifest: base });
    }
    parts.push({ dir: o.snapshotDir, files, manifest });
    const specs = parts.flatMap((p, part) => p.manifest.archives.map((a) => ({ file: a.file, files: p.files, rec: a, storePaths: a.storePaths, part })));
    if (specs.length > MAX_ARCHIVES)
        throw new ManifestError(`the delta and its base hold ${specs.length} archives together, more than ${MAX_ARCHIVES}`);
    // Items are unique within each manifest (readManifest); a delta's must also be apart from its base's.
    const owner = new Set();
    for (const a of specs)
        for (const item of a.rec.items ?? []) {
            if (owner.has(item))
                throw new ManifestError(`the item ${shown(item)} is listed by both the delta and its base`);
            owner.add(item);
        }
    return { parts, specs: specs.map((a, index) => ({ ...a, index })) };
}
/**
 * Partial restore: the archives that hold at least one item the store lacks, and those skipped.
 * An item is lacking unless it is on disk (lstat at the store paths' real locations, whose
 * chains privatePlace checked: no link followed) and, when the DB is restored too and the item
 * is in its store dir, registered valid in the live DB. An archive that lists no items, or when the live DB
 * cannot be read, is fetched: when unsure, fetch. Nothing is decided from the archives' bytes,
 * so a skipped archive is never read at all; its items are what the store already has. `valid`:
 * what the live DB registers valid in the store dir, when there is one and it was read.
 */
async function selectFrames(o, disk, specs) {
    const storeDir = PRESETS[o.kind].storeDir;
    let valid;
    const dbDecides = o.dbDir !== undefined && o.storePaths.includes(storeDir);
    if (dbDecides)
        try {
            valid = await liveValidPathsIfAny(o.root, o.dbDir, storeDir, o.scratchDir);
        }
        catch (e) {
            core_warning(`runbox store: the live DB could not be read to see which items it has, so the whole snapshot is fetched: ${errorMessage(e)}`);
            return { specs: [...specs], skipped: [] };
        }
    const withValid = valid ? { valid } : {};
    const listed = specs.filter((a) => a.rec.items !== undefined && a.rec.items.length > 0);
    if (listed.length === 0)
        return { specs: [...specs], skipped: [], ...withValid };
    const onDisk = (item) => external_node_fs_default().lstatSync(onStoreDisk(disk, item), { throwIfNoEntry: false }) !== undefined;
    // No live DB: nothing is valid, so every item is fetched (and what is on disk stays as it is).
    const isValid = (item) => valid?.has(item) ?? false;
    const lacks = (item) => !onDisk(item) || (dbDecides && item.startsWith(`${storeDir}/`) && !isValid(item));
    const keep = [];
    const skipped = [];
    for (const a of specs) {
        const items = a.rec.items;
        if (items === undefined || items.length === 0 || items.some(lacks))
            keep.push(a);
        else
            skipped.push(a);
    }
    if (skipped.length > 0)
        info(`runbox store: ${skipped.length} of ${specs.length} archive(s) not fetched: the store already holds (on disk${dbDecides ? ' and valid in the DB' : ''}) every item they list (${skipped.reduce((n, a) => n + a.rec.bytes, 0)} compressed bytes)`);
    return { specs: keep, skipped, ...withValid };
}
/**
 * Every archive checked and extracted (in extractConcurrency() lanes) before anything reaches the
 * store, so one bad member anywhere still refuses the whole snapshot. Settled, all of them,
 * before the first failure is thrown: no tar may still be writing into the private dir when it
 * is removed.
 */
async function extractAll(o, priv, specs, needed) {
    const reserved = (p) => isLiveDbFile(p, o.dbDir);
    const jobs = specs.map((a) => {
        const files = a.files;
        const sha256 = files.sha256Of?.(a.file);
        return {
            index: a.index,
            // Its entry's own tree and confined ids: a delta's tars cannot write its base's files.
            part: a.part,
            src: { open: () => files.open(a.file), ...(files.reread ? { reread: () => files.reread(a.file) } : {}), ...(sha256 !== undefined ? { sha256 } : {}) },
            rec: a.rec,
            rules: { storePaths: a.storePaths, reserved }
        };
    });
    try {
        const summaries = await progress_withProgress(`checking and extracting ${specs.length} archive(s)`, () => priv.checkedBytes, () => priv.extractAll(jobs, extractConcurrency()), specs.reduce((n, a) => n + a.rec.dataBytes, 0));
        return specs.map((a, i) => ({ index: a.index, file: a.file, items: a.rec.items, summary: summaries[i], storePaths: a.storePaths, part: a.part }));
    }
    catch (e) {
        throw (await priv.spaceError(e, needed)) ?? e;
    }
}
/** The parts' registrations, checked before the daemon is disturbed; base first, so a delta's win. */
async function readPartRegistrations(o, parts) {
    const storeDir = PRESETS[o.kind].storeDir;
    if (!o.dbDir || !o.storePaths.includes(storeDir))
        return undefined;
    let registrations;
    for (const p of parts) {
        const rec = p.manifest.registrations;
        if (!rec)
            continue;
        const file = external_node_path_default().join(p.dir, rec.file);
        // Fetched whole into the snapshot dir by the entry reader (or there already, on disk).
        await verifyFile(file, rec);
        registrations = [...(registrations ?? []), ...(await readRegistrationsFile(file, storeDir)).paths];
    }
    return registrations;
}
/** What the checks left out of the restore (and still restored the rest), said in the log. */
function reportLeftOut(archives, priv) {
    const bitsDropped = archives.reduce((n, a) => n + a.summary.bitsDropped, 0);
    if (bitsDropped > 0) {
        const where = archives.flatMap((a) => a.summary.bitsDroppedIn).slice(0, 5);
        info(`runbox store: ${bitsDropped} setuid/setgid/sticky bit(s) in the snapshot's modes were dropped (store items never have them), e.g. on ${where.map((w) => shown(w)).join(', ')}`);
    }
    const lockDropped = [...new Set(archives.flatMap((a) => [...a.summary.lockDropped]))].sort().map((t) => `/${t}`);
    if (lockDropped.length > 0)
        core_warning(`runbox store: ${lockDropped.length} top-level entr${lockDropped.length === 1 ? 'y' : 'ies'} named like a daemon lock file (<item>.lock) left out of the restore (the daemon, locking <item> as root, would open it), e.g. ${lockDropped
            .slice(0, 5)
            .map((t) => shown(t))
            .join(', ')}`);
    const notRestored = priv.notRestored();
    if (notRestored.length > 0)
        info(`runbox store: ${notRestored.length} item(s) not restored: they share files (hard links) with items already in the store, e.g. ${notRestored
            .slice(0, 5)
            .map((t) => shown(t))
            .join(', ')}`);
    return { bitsDropped, lockDropped, notRestored };
}
/** With the daemon stopped: the new items renamed into the store, then registered in its DB. */
async function moveInAndRegister(o, disk, priv, archives, registrations) {
    const storeDir = PRESETS[o.kind].storeDir;
    let added = new Set();
    let existing = 0;
    let extractMs = 0;
    let dbMs = 0;
    const db = await withDaemonStopped(o.daemon, async () => {
        const t1 = Date.now();
        const summaries = archives.map((a) => ({ index: a.index, summary: a.summary }));
        // Only those the snapshot registers: replaced without a row, an item would stay as invalid as it was.
        const registered = new Set((registrations ?? []).map((r) => r.path));
        const leftovers = priv.extractedLeftovers(summaries).filter((i) => registered.has(i));
        const held = leftovers.length > 0 ? await lockLeftovers(o, disk, leftovers) : undefined;
        try {
            const moved = await priv.moveIn(summaries, held?.replace);
            if (moved.replaced.length > 0)
                info(`runbox store: ${moved.replaced.length} item(s) on disk that the DB did not register (left by a restore or a build cut short) replaced by the snapshot's copies, under their daemon locks, e.g. ${moved.replaced
                    .slice(0, 5)
                    .map((t) => shown(t))
                    .join(', ')}`);
            added = new Set(moved.added);
            existing = moved.existing;
            const t2 = Date.now();
            extractMs = t2 - t1;
            if (!o.dbDir || !registrations)
                return undefined;
            let result;
            try {
                result = await registerPaths({ kind: o.kind, root: o.root, dbDir: o.dbDir, storeDir, registrations, added, scratchDir: o.scratchDir });
            }
            catch (e) {
                // Killed, the insert may have committed (see db.ts Committed): a valid path without its
                // files breaks every build using it, an unregistered item is an invalid leftover the
                // daemon deletes before it builds or substitutes that path. So they stay, and it is a miss.
                if (e instanceof RegistrationError && e.committed === 'unknown') {
                    core_warning(`runbox store: registering the restored items was cut short (${errorMessage(e)}) and whether their rows were committed cannot be told: the ${moved.added.length} item(s) moved in stay in the store (those not registered are invalid leftovers the daemon replaces)`);
                    throw e;
                }
                // The DB could not take the rows (its filesystem full, say): the items just renamed in
                // would stay in the store registered nowhere while the step says nothing was restored.
                // They are this restore's own (moveIn checked each inode), so they go, and the store is as it was.
                for (const a of moved.added)
                    await removeTree(onStoreDisk(disk, a));
                added = new Set();
                throw e;
            }
            // Failed after the COMMIT: the rows are in, the items valid paths, so they stay and the
            // restore stands; what the DB counted is said, an item it does not list being an invalid leftover.
            if (result.afterCommit) {
                const f = result.afterCommit;
                core_warning(`runbox store: registering the restored items failed after their rows were committed (${f.error}); the ${moved.added.length} item(s) moved in stay in the store. The DB counted ${f.paths ?? 'an unknown number'} of the ${result.registered} paths and ${f.refs.held ?? 'an unknown number'} of the ${f.refs.sent} references sent (an item whose path it does not list is an invalid leftover the daemon replaces)`);
            }
            dbMs = Date.now() - t2;
            return result;
        }
        finally {
            // After the insert (or its failure): until then a daemon must not take these paths.
            await held?.locks?.release().catch((e) => core_warning(`runbox store: letting go of the store items' locks: ${errorMessage(e)}`));
        }
    });
    return { added: added.size, existing, ...(db ? { db } : {}), extractMs, dbMs };
}
/**
 * The leftovers `items` (absolute, in the store dir) that may be replaced: those whose daemon
 * lock (`<item>.lock`, lock/store-item-locks.ts) this restore took and that the live DB, read
 * again under the locks with the daemon stopped, still does not register. `locks` stay held
 * until released. One whose lock another process holds (a build or substitution) or whose lock
 * file is not the daemons' kind is left as it is, and not registered.
 */
async function lockLeftovers(o, disk, items) {
    const storeDir = PRESETS[o.kind].storeDir;
    const named = (name, suffix = '') => shown(`${storeDir}/${name}${suffix}`);
    let locks;
    try {
        locks = await lockStoreItems(onStoreDisk(disk, storeDir), items.map((i) => i.slice(storeDir.length + 1)));
    }
    catch (e) {
        core_warning(`runbox store: the locks of ${items.length} item(s) on disk that the DB does not register could not be taken, so they stay as they are, not registered: ${errorMessage(e)}`);
        return { replace: new Set() };
    }
    if (locks.busy.length > 0)
        core_warning(`runbox store: ${locks.busy.length} item(s) on disk that the DB does not register are locked by another process (a build or substitution in progress), so they stay as they are, not registered: ${locks.busy
            .slice(0, 5)
            .map((n) => named(n))
            .join(', ')}`);
    if (locks.refused.length > 0)
        core_warning(`runbox store: ${locks.refused.length} item(s) on disk that the DB does not register stay as they are, not registered: their lock file was refused, nothing was written through it: ${locks.refused
            .slice(0, 5)
            .map((r) => `${named(r.name, '.lock')} ${escapedText(r.why)}`)
            .join(', ')}`);
    let valid;
    try {
        // Read again now that nothing else writes the DB (the daemon stopped, the restore lock and
        // the items' locks held): a path registered valid meanwhile is never replaced.
        valid = await liveValidPathsIfAny(o.root, o.dbDir, storeDir, o.scratchDir, 'live-valid-locked.json');
    }
    catch (e) {
        core_warning(`runbox store: the live DB could not be read again, so no item on disk that it does not register is replaced: ${errorMessage(e)}`);
    }
    const replace = new Set(valid === undefined ? [] : [...locks.locked].map((n) => `${storeDir}/${n}`).filter((i) => !valid.has(i)));
    return { replace, locks };
}
/** The private dir goes beside the store dir (the preset's), whatever the order of store-paths, so items are renamed in, not copied. */
function storeDirFirst(kind, storePaths) {
    const storeDir = PRESETS[kind].storeDir;
    return storePaths.includes(storeDir) ? [storeDir, ...storePaths.filter((p) => p !== storeDir)] : [...storePaths];
}
/** fail-on-cache-miss: the step fails, but post may still save (save: auto), so the state comes along. */
class StoreMissError extends Error {
    state;
    constructor(message, state) {
        super(message);
        this.state = state;
        this.name = 'StoreMissError';
    }
}
/**
 * A delta's base, fetched by its exact key and no restore keys (with the same fixed path, so the
 * same cache version); `{}` for a full snapshot, or for a base key the cache cannot look up (not
 * fetched, so applySnapshot refuses the delta). `missing` names a base that could not be had,
 * `space` when it is in the cache but this host had no room for it.
 */
async function fetchDeltaBase(cfg, entry, stagings) {
    const matched = entry.matched;
    const baseKey = peekBaseKey(entry.dir);
    if (baseKey === undefined || keyProblem(baseKey) !== undefined)
        return {};
    info(`${matched} is a delta over ${baseKey}; fetching the base`);
    const baseStaging = createStaging(cfg.stagingBase);
    stagings.push(baseStaging);
    // A delta naming itself as base is refused like a missing base.
    const spaceProblems = [];
    const got = baseKey === matched
        ? undefined
        : await progress_withProgress(`downloading the delta's base ${baseKey}`, () => bytesUnder(baseStaging), () => restoreEntry(baseStaging, baseKey, [], { kind: cfg.kind, storePaths: cfg.storePaths, trustedKeys: cfg.trustedKeys, spaceProblems }));
    if (got?.matched === baseKey)
        return { base: got };
    return { missing: baseKey, ...(spaceProblems.length > 0 ? { space: spaceProblems[0] } : {}) };
}
/**
 * Looks the snapshot up and downloads it; for a delta, also its base, by exact key and no
 * restore keys (with the same fixed path, so the same cache version). When the base is gone
 * (evicted), a warning, and:
 * - the delta matched the primary key exactly: the restore keys are looked up as on a miss of
 *   the primary key. The cache service answers a prefix with its newest entry; when that is the
 *   same delta again, it is a miss.
 * - the delta matched a restore key: that lookup would only find the same delta again: a miss.
 * On a miss, post saves a full snapshot, which is then the newest entry for the prefix.
 */
async function fetchSnapshot(cfg, keys, stagings) {
    const entryOpts = { kind: cfg.kind, storePaths: cfg.storePaths, trustedKeys: cfg.trustedKeys };
    const lookups = [[keys.primary, keys.restore]];
    const refused = new Set();
    let note = '';
    for (let i = 0; i < lookups.length; i++) {
        const [key, restore] = lookups[i];
        const staging = createStaging(cfg.stagingBase);
        stagings.push(staging);
        const entry = await progress_withProgress(`downloading the snapshot for ${key}`, () => bytesUnder(staging), () => restoreEntry(staging, key, restore, entryOpts));
        if (!entry)
            return { note };
        const matched = entry.matched;
        if (refused.has(matched)) {
            info(`the restore keys found ${matched} again, the delta whose base is gone: continuing as on a cache miss`);
            return { note };
        }
        const b = await fetchDeltaBase(cfg, entry, stagings);
        if (!('missing' in b))
            return { fetched: { matched, entry, ...b }, note };
        const baseKey = b.missing;
        // The base is in the cache; this host had no room for it. Saying "gone" would send the
        // user to the cache, and a fallback lookup would only fill the same disk again.
        if (b.space !== undefined)
            return { note: ` (the delta ${matched} was found, but its base ${baseKey} could not be written: ${b.space})` };
        refused.add(matched);
        const fallback = i === 0 && matched === keys.primary && keys.restore.length > 0;
        core_warning(`runbox store: ${matched} is a delta snapshot over ${baseKey}, which could not be fetched from the cache (evicted, or a cache service problem in the warnings above); ` +
            (fallback ? `looking up the restore keys (${keys.restore.join(', ')}) as on a miss` : 'continuing as on a cache miss; post saves a full snapshot'));
        note = ` (the delta ${matched} was found, but its base ${baseKey} is gone)`;
        if (fallback)
            lookups.push([keys.restore[0], keys.restore.slice(1)]);
    }
    return { note };
}
/** One fetched entry (and a delta's base) applied to the store (`staging`: its staging dir, for scratch); the summary's detail after `restored <key> (<hit kind>`. */
async function applyFetched(cfg, fetched, staging) {
    const scratchDir = external_node_path_default().join(staging, 'scratch');
    external_node_fs_default().mkdirSync(scratchDir);
    const r = await applySnapshot({
        root: cfg.root,
        kind: cfg.kind,
        storePaths: cfg.storePaths,
        ...(cfg.dbDir ? { dbDir: cfg.dbDir } : {}),
        daemon: cfg.daemon,
        snapshotDir: fetched.entry.dir,
        files: fetched.entry.files,
        ...(fetched.base ? { baseDir: fetched.base.dir, baseFiles: fetched.base.files } : {}),
        scratchDir
    });
    const entries = [fetched.entry, ...(fetched.base ? [fetched.base] : [])];
    const entryBytes = entries.reduce((n, e) => n + e.bytes, 0);
    const readBytes = entries.reduce((n, e) => n + e.metaBytes + e.files.fetchedBytes(), 0);
    const db = r.db
        ? [
            r.db.mode === 'refused'
                ? 'DB: nothing registered (journal files without a DB, see the warning)'
                : `DB${r.db.mode === 'created' ? ' created' : ''}: ${r.db.registered} paths registered, ${r.db.alreadyValid} already valid${r.db.skipped ? `, ${r.db.skipped} registrations unused` : ''}${r.db.afterCommit ? ' (the insert failed after its COMMIT, see the warning)' : ''}`
        ]
        : [];
    const detail = `${r.deltaOf ? `; a delta over ${r.deltaOf}, fetched too` : ''}): ${formatBytes(readBytes)} compressed downloaded of the entry's ${formatBytes(entryBytes)} (${r.frames.read} of ${r.frames.total} archives${r.frames.read < r.frames.total ? '; the others hold only items the store has' : ''}), ${formatBytes(r.dataBytes)} of files; ` +
        `${r.added} top-level entries added, ${r.existing} already present${r.bitsDropped > 0 ? `; ${r.bitsDropped} setuid/setgid/sticky bit(s) dropped` : ''}${r.notRestored.length > 0 ? `; ${r.notRestored.length} items not restored: they share files with items already in the store` : ''}${r.lockDropped.length > 0 ? `; ${r.lockDropped.length} entries named like a daemon lock file left out` : ''}${db.length ? `; ${db.join('; ')}` : ''}`;
    return { r, detail };
}
/** The summary's restore times after the lookup. */
function restoreTimes(r) {
    return `download + check + extract ${formatSeconds(r.verifyMs)} (one streamed pass, into a private dir), move in ${formatSeconds(r.extractMs)}, DB ${formatSeconds(r.dbMs)}`;
}
/** The restore's staging dirs, each removed; one that cannot be is a warning (it holds no store item). */
function removeStagings(cfg, stagings) {
    for (const staging of stagings)
        try {
            removeStaging(staging, cfg.stagingBase);
        }
        catch (e) {
            core_warning(`runbox store: could not remove the staging dir ${staging}: ${errorMessage(e)}`);
        }
}
/** Host-wide, one restore into a store at a time (src/lock/restore-lock.ts); `busy` says why the lock could not be had: then a miss. */
async function restoreStore(cfg, report, setOutputs) {
    // Nothing reaches the store: no restore lock, no root rights.
    if (cfg.lookupOnly)
        return lookupOnly(cfg, report, setOutputs);
    // A store path through a link root did not make fails the step before the lock, a download
    // or a private dir (main and the restore sub-action refused it with the inputs already).
    realStorePaths(cfg.root, cfg.storePaths);
    // The restore's commands and pipelines go through the launcher once it is up (sys/launch.ts).
    prepareLauncher();
    // Asked now, beside the lock and the download of the index (two getent starts): the private
    // dir asks again, gets this answer, and a failure is told there (a failed check is not kept).
    checkConfinedIds().catch(() => undefined);
    // Keyed on the store itself (the preset's store dir), not on the first of store-paths: two jobs
    // listing the same paths in another order must still take the same lock.
    return withStoreRestoreLock(realStoreDir(cfg.root, cfg.kind), (busy) => restoreLocked(cfg, report, setOutputs, busy));
}
/**
 * `lookup-only`: the outputs say whether (and under which key) an entry exists; nothing is
 * downloaded or restored. The state says the store holds no snapshot (matchedKey ''), and that
 * the cache already has the primary key when it matched exactly, so `save: auto` does not save
 * it again (the service would refuse the duplicate key anyway).
 */
async function lookupOnly(cfg, report, setOutputs) {
    const keys = await resolveKeys(cfg);
    report.add('cache key', `${keys.primary}; restore keys: ${keys.restore.join(', ') || '(none)'}`);
    const state = initialState(cfg, keys);
    setOutputs({ primaryKey: keys.primary, matchedKey: '', exactHit: false });
    const matched = await lookupEntry(keys.primary, keys.restore, { kind: cfg.kind, storePaths: cfg.storePaths });
    state.exactHit = matched === keys.primary;
    setOutputs({ primaryKey: keys.primary, matchedKey: matched ?? '', exactHit: state.exactHit });
    report.add('store snapshot', matched
        ? `lookup only: ${matched} exists (${state.exactHit ? 'exact hit' : 'restore-key hit'}); nothing downloaded or restored`
        : `lookup only: no entry for ${keys.primary}${keys.restore.length ? ` or ${keys.restore.join(', ')}` : ''}; nothing downloaded or restored`);
    if (!matched && cfg.failOnCacheMiss)
        throw new StoreMissError(`fail-on-cache-miss is true and no store snapshot exists for ${keys.primary}${keys.restore.length ? ` or ${keys.restore.join(', ')}` : ''}`, state);
    return state;
}
/** The state a restore (or a save with nothing restored) starts from: nothing matched yet. */
function initialState(cfg, keys) {
    return {
        version: 1,
        kind: cfg.kind,
        root: cfg.root,
        storePaths: cfg.storePaths,
        dbDir: cfg.dbDir ?? '',
        stagingBase: cfg.stagingBase,
        save: cfg.save,
        shards: cfg.shards,
        primaryKey: keys.primary,
        matchedKey: '',
        exactHit: false,
        toolVersion: keys.toolVersion ?? '',
        delta: cfg.delta,
        ...(cfg.gcCapBytes > 0 ? { gc: { capBytes: cfg.gcCapBytes, lockTimeoutSec: restoreLockTimeout() } } : {})
    };
}
/** The summary's 'cache key' row: the key, how it was composed, and the restore keys. */
function describeKeys(keys) {
    return `${keys.primary} = ${keys.parts.length > 0 ? keys.parts.map((p) => `${p.name} ${p.value || '(none)'} (${p.note})`).join(' + ') : "the 'key' input"}; restore keys: ${keys.restore.join(', ') || '(none)'}`;
}
async function restoreLocked(cfg, report, setOutputs, busy) {
    const keys = await resolveKeys(cfg);
    // Outside the collapsed log group too: a miss is explained by which part of the key changed.
    report.add('cache key', describeKeys(keys));
    const state = initialState(cfg, keys);
    // Outputs exist from the start, so a later step can read them whatever happens below.
    setOutputs({ primaryKey: keys.primary, matchedKey: '', exactHit: false });
    // Root rights are needed to write the store; find out before downloading anything.
    await ensurePrivilege('restore a store snapshot into root-owned store paths');
    const stagings = [];
    try {
        const t0 = Date.now();
        const { fetched, note } = busy ? { fetched: undefined, note: ` (${busy})` } : await fetchSnapshot(cfg, keys, stagings);
        const downloadMs = Date.now() - t0;
        if (!fetched) {
            report.add('store snapshot', `miss: nothing restored for ${keys.primary}${keys.restore.length ? ` or ${keys.restore.join(', ')}` : ''}${note} (cache service problems, if any, are in the warnings)`);
        }
        else {
            const matched = fetched.matched;
            try {
                const { r, detail } = await applyFetched(cfg, fetched, stagings[stagings.length - 1]);
                state.matchedKey = matched;
                state.exactHit = matched === keys.primary;
                // What post may save a delta over: the full snapshot, never a delta (chains stay at depth 1).
                if (cfg.delta === 'auto' && cfg.save !== 'never' && !(cfg.save === 'auto' && state.exactHit)) {
                    const baseKey = r.deltaOf ?? matched;
                    state.base = { key: baseKey, ...writeBaseInfo(cfg.stagingBase, { key: baseKey, bytes: r.full.bytes, items: r.full.items }) };
                }
                report.add('store snapshot', `restored ${matched} (${state.exactHit ? 'exact hit' : 'restore-key hit'}${detail}`);
                report.add('store restore time', `index + manifest ${formatSeconds(downloadMs)}, ${restoreTimes(r)}`);
                if (r.reaped.length > 0)
                    report.add('store leftovers', `removed ${r.reaped.length} private dir(s) of killed restores: ${r.reaped.join(', ')}`);
            }
            catch (e) {
                if (e instanceof DaemonStartError)
                    throw e;
                core_warning(`runbox store: the snapshot ${matched} was not restored, continuing as on a cache miss: ${errorMessage(e)}`);
                report.add('store snapshot', `not restored (${matched}): ${errorMessage(e)}`);
            }
        }
        setOutputs({ primaryKey: keys.primary, matchedKey: state.matchedKey, exactHit: state.exactHit });
        if (!state.matchedKey && cfg.failOnCacheMiss)
            throw new StoreMissError(`fail-on-cache-miss is true and no store snapshot was restored for ${keys.primary}${keys.restore.length ? ` or ${keys.restore.join(', ')}` : ''}`, state);
        return state;
    }
    finally {
        removeStagings(cfg, stagings);
    }
}

;// CONCATENATED MODULE: ./src/store/cache-scope.ts
// Which saved entries a job may restore: GitHub's cache scopes. A job reads the entries saved on
// its own ref, on the default branch and, for a pull request, on its base branch; nothing saved
// on another branch, tag or pull request. restore-all-matches lists entries through the REST API,
// which shows every ref's: an entry the job cannot read would take one of its few slots and then
// miss, so anyone who can push a branch could crowd the real ones out.
/**
 * Whether the job may restore an entry saved on `entryRef`. Without the default branch (no event
 * payload) only other pull requests' entries are left out: the service still refuses the rest,
 * which then miss.
 */
function readableRef(entryRef, job) {
    if (entryRef === job.ref)
        return true;
    if (job.defaultBranch === undefined)
        return !entryRef.startsWith('refs/pull/');
    if (entryRef === `refs/heads/${job.defaultBranch}`)
        return true;
    return !!job.baseRef && entryRef === `refs/heads/${job.baseRef}`;
}

;// CONCATENATED MODULE: ./src/store/cache-service/caches-rest.ts
// The repository's Actions caches through the GitHub REST API (`/repos/{owner}/{repo}/actions/caches`),
// which, unlike the cache service itself, can list entries and delete them. Used by purge (list,
// delete) and by restore-all-matches (list only: the entries are then fetched by exact key
// through the cache service).
// The API is told apart from github.com by GITHUB_API_URL, so GHES works the same way.
//
// Refusals are values, not exceptions the caller has to classify: no permission, a rate limit,
// a token the API does not take, or a service that stays unavailable after bounded retries.


const PER_PAGE = 100;
/** Pages read per prefix: 2,000 entries, far more than a 10 GB cache holds of multi-GB snapshots. */
const MAX_PAGES = 20;
const API_VERSION = '2022-11-28';
function headers(t) {
    return {
        accept: 'application/vnd.github+json',
        authorization: `Bearer ${t.token}`,
        'x-github-api-version': API_VERSION,
        'user-agent': 'runbox'
    };
}
function endpoint(t, rest) {
    return `${t.apiUrl.replace(/\/+$/, '')}/repos/${t.repository}/actions/caches${rest}`;
}
/** A non-2xx answer as a refusal; 5xx are thrown (as HttpError) so that withRetries retries them. */
async function refusalOf(res, what, permission = 'write') {
    const body = (await res.text()).slice(0, 300);
    const said = body ? `: ${shown(body)}` : '';
    const limited = res.headers.get('x-ratelimit-remaining') === '0' || res.headers.has('retry-after');
    if (res.status === 429 || (res.status === 403 && limited)) {
        const reset = Number(res.headers.get('x-ratelimit-reset') ?? '');
        const retry = res.headers.get('retry-after');
        const when = retry ? `retry after ${retry} s` : Number.isFinite(reset) && reset > 0 ? `the limit resets at ${new Date(reset * 1000).toISOString()}` : 'try again later';
        return { kind: 'rate-limit', message: `${what}: the GitHub API rate limit is exhausted (HTTP ${res.status}; ${when})` };
    }
    if (res.status === 401)
        return { kind: 'auth', message: `${what}: the API does not accept the token (HTTP 401)${said}` };
    if (res.status === 403 || res.status === 404)
        return { kind: 'permission', message: `${what}: HTTP ${res.status}${said} (the token needs the 'actions: ${permission}' permission on this repository)` };
    return { kind: 'malformed', message: `${what}: HTTP ${res.status}${said}` };
}
async function request(t, method, url, what) {
    try {
        return await withRetries(what, async () => {
            const res = await fetchWithTimeout(url, { method, headers: headers(t) });
            if (res.status >= 500 && res.status !== 501) {
                throw new HttpError(res.status, `${what}: HTTP ${res.status}`);
            }
            return res;
        });
    }
    catch (e) {
        return { kind: 'unavailable', message: http_describe(e) };
    }
}
function isRefusal(v) {
    return typeof v === 'object' && v !== null && 'kind' in v && 'message' in v && !(v instanceof Answer);
}
function parseTime(v) {
    const ms = typeof v === 'string' ? Date.parse(v) : NaN;
    return Number.isFinite(ms) ? ms : NaN;
}
/** One listed entry, checked field by field; undefined when a field is missing or of the wrong type. */
function listing(raw) {
    const o = raw;
    if (!o || typeof o !== 'object')
        return undefined;
    const { id, key, version, ref, size_in_bytes: size } = o;
    const createdAt = parseTime(o.created_at);
    const lastAccessedAt = parseTime(o.last_accessed_at);
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || typeof key !== 'string' || typeof version !== 'string' || typeof ref !== 'string')
        return undefined;
    if (typeof size !== 'number' || !Number.isFinite(size) || Number.isNaN(createdAt) || Number.isNaN(lastAccessedAt))
        return undefined;
    return { id, key, version, ref, createdAt, lastAccessedAt, sizeInBytes: size };
}
/**
 * Every entry whose key starts with `prefix` (the API's `key` filter matches a prefix) and, when
 * given, saved from `ref`. `permission` is what the caller's use needs (purge: write, a listing
 * alone: read), named when the API refuses. Pages are read until the API's total_count is reached, a page comes
 * back empty, or MAX_PAGES were read (then `truncated`).
 */
async function listCaches(t, prefix, ref, permission = 'write') {
    const entries = [];
    for (let page = 1; page <= MAX_PAGES; page++) {
        const q = new URLSearchParams({ key: prefix, ...(ref ? { ref } : {}), per_page: String(PER_PAGE), page: String(page) });
        const what = `listing the caches for ${shown(prefix)} (page ${page})`;
        const res = await request(t, 'GET', endpoint(t, `?${q.toString()}`), what);
        if (isRefusal(res))
            return res;
        if (!res.ok)
            return refusalOf(res, what, permission);
        let body;
        try {
            body = await jsonBody(res, what);
        }
        catch (e) {
            return { kind: 'malformed', message: http_describe(e) };
        }
        const o = body;
        if (!o || typeof o.total_count !== 'number' || !Array.isArray(o.actions_caches))
            return { kind: 'malformed', message: `${what}: the answer has no total_count and actions_caches` };
        const got = o.actions_caches.map(listing);
        if (got.some((e) => e === undefined))
            return { kind: 'malformed', message: `${what}: an entry lacks id, key, version, ref, created_at, last_accessed_at or size_in_bytes` };
        entries.push(...got);
        if (got.length === 0 || entries.length >= o.total_count)
            return { entries, truncated: false };
    }
    return { entries, truncated: true };
}
/** Deletes one entry by id: 'deleted', 'gone' (404: deleted meanwhile, by another job or the service), or the refusal. */
async function deleteCache(t, id) {
    const what = `deleting cache entry ${id}`;
    const res = await request(t, 'DELETE', endpoint(t, `/${id}`), what);
    if (isRefusal(res))
        return res;
    // A 404 after a successful listing is the entry going away in between; a missing permission
    // shows as 403 (or as 404 on the listing itself).
    if (res.ok || res.status === 404) {
        return res.ok ? 'deleted' : 'gone';
    }
    return refusalOf(res, what);
}


;// CONCATENATED MODULE: ./src/store/restore-all.ts
// `restore-all-matches`: merge several snapshots into one store, e.g. the parts that the legs of
// a matrix saved. The cache service answers a lookup with one entry (the newest under the first
// matching key), so the entries are listed through the REST API (caches-rest.ts, `token` with
// `actions: read`), then each is fetched by its exact key through the cache service and applied
// exactly as a single restore is (restore.ts applyFetched: its signature, members and
// registrations checked, a delta together with its base). Restores are additive: an item the
// store has is skipped, so applying them one after another gives the union.
//
// On an exact hit of the key only that entry is restored (it is what a previous merge saved).
// Without a token the API takes, or without the permission, a warning and the first match, as
// without this input. One restore lock for the whole loop: no other restore into this store runs
// between two of the entries.

















/** Entries merged at most, newest first; the summary names how many matching ones were left out. */
const MAX_MERGED = 10;
/** The store's restore: one snapshot, or with `restore-all-matches` every match (see above). */
async function restoreStoreAll(cfg, report, setOutputs) {
    if (!cfg.restoreAllMatches)
        return restoreStore(cfg, report, setOutputs);
    const token = cfg.restoreAllMatches.token;
    // As restoreStore: refused before the lock and any download.
    realStorePaths(cfg.root, cfg.storePaths);
    prepareLauncher();
    return withStoreRestoreLock(realStoreDir(cfg.root, cfg.kind), (busy) => restoreAllLocked(cfg, token, report, setOutputs, busy));
}
/**
 * The keys to merge, newest first: this store's runbox entries (the cache version) whose key
 * starts with a restore key, readable from this job's ref (cache-scope.ts), one per key, at most MAX_MERGED. A string when the API refused: the reason.
 */
async function listMatches(cfg, prefixes, token, env = process.env) {
    const job = { ref: (env.GITHUB_REF ?? '').trim(), baseRef: (env.GITHUB_BASE_REF ?? '').trim(), defaultBranch: defaultBranch(env) };
    const repository = (env.GITHUB_REPOSITORY ?? '').trim();
    if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repository))
        return 'GITHUB_REPOSITORY is not set as the runner sets it';
    const target = { apiUrl: (env.GITHUB_API_URL ?? '').trim() || 'https://api.github.com', repository, token };
    const version = entryVersion(cfg.kind, cfg.storePaths);
    const listed = [];
    let truncated = false;
    for (const p of prefixes) {
        const r = await listCaches(target, p, undefined, 'read');
        if (isRefusal(r))
            return r.message;
        listed.push(...r.entries);
        truncated ||= r.truncated;
    }
    const newest = new Map();
    for (const e of listed) {
        // Keys go into outputs, log lines and a lookup: the same checks as a key the service answers
        // with (printable ASCII, a key the service accepts), so they are shown as they are.
        if (e.version !== version || /[^\x20-\x7e]/.test(e.key) || keyProblem(e.key) !== undefined || !prefixes.some((p) => e.key.startsWith(p)))
            continue;
        if (!readableRef(e.ref, job))
            continue;
        const seen = newest.get(e.key);
        if (!seen || e.createdAt > seen.createdAt)
            newest.set(e.key, e);
    }
    const keys = [...newest.values()].sort((a, b) => b.createdAt - a.createdAt || b.id - a.id).map((e) => e.key);
    return { keys: keys.slice(0, MAX_MERGED), leftOut: Math.max(0, keys.length - MAX_MERGED), truncated };
}
/** One entry by its exact key (and a delta's base); undefined, said, when it cannot be had. */
async function fetchExact(cfg, key, stagings) {
    const staging = createStaging(cfg.stagingBase);
    stagings.push(staging);
    const entry = await progress_withProgress(`downloading the snapshot ${key}`, () => bytesUnder(staging), () => restoreEntry(staging, key, [], { kind: cfg.kind, storePaths: cfg.storePaths, trustedKeys: cfg.trustedKeys }));
    if (!entry)
        return undefined;
    // The service matches a key as a prefix too: a longer key is another entry (listed on its own if it matches).
    if (entry.matched !== key) {
        info(`the cache service answered ${key} with ${entry.matched}; ${key} itself is not restored`);
        return undefined;
    }
    const b = await fetchDeltaBase(cfg, entry, stagings);
    if ('missing' in b) {
        core_warning(`runbox store: ${key} is a delta over ${b.missing}, which could not be fetched (${b.space ?? 'evicted, or a cache service problem in the warnings above'}); the other matches are still restored`);
        return undefined;
    }
    return { matched: key, entry, ...b };
}
async function restoreAllLocked(cfg, token, report, setOutputs, busy) {
    const keys = await resolveKeys(cfg);
    report.add('cache key', describeKeys(keys));
    const state = initialState(cfg, keys);
    setOutputs({ primaryKey: keys.primary, matchedKey: '', exactHit: false, matchedKeys: [] });
    await ensurePrivilege('restore store snapshots into root-owned store paths');
    const stagings = [];
    const applied = [];
    try {
        if (busy)
            report.add('store snapshot', `miss: nothing restored (${busy})`);
        else
            await mergeMatches(cfg, keys, token, stagings, applied, report);
        state.matchedKey = applied[0]?.key ?? '';
        state.exactHit = state.matchedKey === keys.primary;
        // A delta saved after a merge holds everything its base lacks, so any restored full snapshot
        // will do as its base; the largest leaves the smallest delta.
        const largest = [...applied].sort((a, b) => b.r.full.bytes - a.r.full.bytes)[0];
        if (largest && cfg.delta === 'auto' && cfg.save !== 'never' && !(cfg.save === 'auto' && state.exactHit)) {
            const baseKey = largest.r.deltaOf ?? largest.key;
            state.base = { key: baseKey, ...writeBaseInfo(cfg.stagingBase, { key: baseKey, bytes: largest.r.full.bytes, items: largest.r.full.items }) };
        }
        setOutputs({ primaryKey: keys.primary, matchedKey: state.matchedKey, exactHit: state.exactHit, matchedKeys: applied.map((a) => a.key) });
        if (!state.matchedKey && cfg.failOnCacheMiss)
            throw new StoreMissError(`fail-on-cache-miss is true and no store snapshot was restored for ${keys.primary}${keys.restore.length ? ` or ${keys.restore.join(', ')}` : ''}`, state);
        return state;
    }
    finally {
        removeStagings(cfg, stagings);
    }
}
/** The exact key alone, else every listed match (else, refused, the first match); each applied in turn, `applied` newest first. */
async function mergeMatches(cfg, keys, token, stagings, applied, report) {
    const exact = await fetchExact(cfg, keys.primary, stagings);
    const plan = [];
    if (exact) {
        info(`${keys.primary} matched exactly: it is restored alone (restore-all-matches merges the restore keys' entries on a miss of the key)`);
        plan.push({ key: keys.primary, fetch: () => Promise.resolve(exact) });
    }
    else if (keys.restore.length > 0) {
        const listed = await listMatches(cfg, keys.restore, token);
        if (typeof listed === 'string') {
            core_warning(`runbox store: restore-all-matches could not list the entries matching ${keys.restore.join(', ')} (${listed}); restoring the first match only. Give the job 'permissions: actions: read' (or pass a token with it in 'token')`);
            report.add('store snapshots merged', `not listed (${listed}); the first match only`);
            const { fetched } = await fetchSnapshot(cfg, keys, stagings);
            if (fetched)
                plan.push({ key: fetched.matched, fetch: () => Promise.resolve(fetched) });
        }
        else {
            info(`restore-all-matches: ${listed.keys.length} entr${listed.keys.length === 1 ? 'y' : 'ies'} to restore, newest first: ${listed.keys.join(', ') || '(none)'}`);
            if (listed.leftOut > 0 || listed.truncated)
                report.add('store snapshots merged', `the newest ${MAX_MERGED} matching entries are restored; ${listed.leftOut > 0 ? `${listed.leftOut} older ones are not` : 'the listing stopped at its page limit'}`);
            for (const key of listed.keys)
                plan.push({ key, fetch: () => fetchExact(cfg, key, stagings) });
        }
    }
    for (const [i, p] of plan.entries()) {
        const row = `store snapshot ${i + 1}/${plan.length}`;
        const fetched = await p.fetch();
        if (!fetched) {
            report.add(row, `not restored: ${p.key} (see the log)`);
            continue;
        }
        try {
            const { r, detail } = await applyFetched(cfg, fetched, stagings[stagings.length - 1]);
            applied.push({ key: fetched.matched, r });
            report.add(row, `restored ${fetched.matched} (${fetched.matched === keys.primary ? 'exact hit' : 'restore-key hit'}${detail}`);
            report.add(`store restore time ${i + 1}/${plan.length}`, restoreTimes(r));
        }
        catch (e) {
            if (e instanceof DaemonStartError)
                throw e;
            core_warning(`runbox store: the snapshot ${fetched.matched} was not restored, the other matches still are: ${errorMessage(e)}`);
            report.add(row, `not restored (${fetched.matched}): ${errorMessage(e)}`);
        }
    }
    const bytes = applied.reduce((n, a) => n + a.r.dataBytes, 0);
    report.add('store snapshot', applied.length === 0
        ? `miss: nothing restored for ${keys.primary}${keys.restore.length ? ` or ${keys.restore.join(', ')}` : ''} (restore-all-matches; cache service problems, if any, are in the warnings)`
        : `restored ${applied.length} of ${plan.length} entr${plan.length === 1 ? 'y' : 'ies'} into one store (restore-all-matches, newest first): ${applied.map((a) => a.key).join(', ')}; ${formatBytes(bytes)} of files read`);
}

;// CONCATENATED MODULE: ./src/store/state.ts
/** Validates a StoreState read back from the saved run state. */
function storeStateFrom(raw) {
    const o = raw;
    const str = (k) => {
        const v = o?.[k];
        if (typeof v !== 'string')
            throw new Error(`runbox store state: ${k} is not a string`);
        return v;
    };
    if (!o || o.version !== 1)
        throw new Error(`runbox store state version ${String(o?.version)} is not understood by this post step`);
    const kind = str('kind');
    const save = str('save');
    if (kind !== 'guix' && kind !== 'nix')
        throw new Error(`runbox store state: kind '${kind}'`);
    if (save !== 'auto' && save !== 'always' && save !== 'never')
        throw new Error(`runbox store state: save '${save}'`);
    if (!Array.isArray(o.storePaths) || !o.storePaths.every((p) => typeof p === 'string' && p.startsWith('/')))
        throw new Error('runbox store state: storePaths is not a list of absolute paths');
    if (typeof o.exactHit !== 'boolean')
        throw new Error('runbox store state: exactHit is not a boolean');
    const shards = o.shards ?? 0;
    if (typeof shards !== 'number' || !Number.isInteger(shards) || shards < 0)
        throw new Error('runbox store state: shards is not a count');
    const delta = o.delta ?? 'auto';
    if (delta !== 'auto' && delta !== 'off')
        throw new Error(`runbox store state: delta '${typeof delta === 'string' ? delta : JSON.stringify(delta)}'`);
    let base;
    if (o.base !== undefined) {
        const b = o.base;
        if (!b || typeof b.key !== 'string' || typeof b.file !== 'string' || typeof b.sha256 !== 'string')
            throw new Error('runbox store state: base is not {key, file, sha256}');
        base = { key: b.key, file: b.file, sha256: b.sha256 };
    }
    let gc;
    if (o.gc !== undefined) {
        const g = o.gc;
        const count = (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
        if (!g || !count(g.capBytes) || !count(g.lockTimeoutSec))
            throw new Error('runbox store state: gc is not {capBytes, lockTimeoutSec}');
        gc = { capBytes: g.capBytes, lockTimeoutSec: g.lockTimeoutSec };
    }
    return {
        version: 1,
        kind,
        root: str('root'),
        storePaths: o.storePaths,
        dbDir: str('dbDir'),
        stagingBase: str('stagingBase'),
        save,
        shards,
        primaryKey: str('primaryKey'),
        matchedKey: str('matchedKey'),
        exactHit: o.exactHit,
        toolVersion: str('toolVersion'),
        delta,
        ...(base ? { base } : {}),
        ...(gc ? { gc } : {})
    };
}

;// CONCATENATED MODULE: ./src/store/record.ts
// How the `save` sub-action learns what the `restore` sub-action did. The steps of a composite
// action share no state (core.saveState reaches only the same action's post), so restore writes
// its StoreState as a small runner-owned JSON file under RUNNER_TEMP, which the runner wipes
// after the job, named after the store it is about; save reads it back when it saves under the
// same key. Inputs alone could not carry the delta base (a file and its hash) without making
// every user wire them through.
//
// It is plain data on the runner's disk, writable by every step of the job: it decides only
// things a step could decide anyway through the inputs (skip a save of a key the cache has, save
// a delta over a named base). What is saved is always read from the store itself, as root; the
// base's item list is checked against its hash (delta.ts), and a wrong list costs a larger or
// incomplete delta, never a restore of anything unchecked. Read without following a symlink.






/** At most this much is read: a StoreState is a few hundred bytes. */
const MAX_RECORD_BYTES = 64 * 1024;
function recordPath(cfg) {
    const h = external_node_crypto_default().createHash('sha256')
        .update(`${cfg.kind}|${cfg.root}|${cfg.storePaths.join('|')}`)
        .digest('hex')
        .slice(0, 16);
    return external_node_path_default().join(cfg.stagingBase, `runbox-restored-${h}.json`);
}
/** Written through a fresh temp name and renamed over the last record (a mid-job restore replaces it). */
function writeRestoreRecord(cfg, state) {
    const file = recordPath(cfg);
    const tmp = `${file}.${process.pid}-${external_node_crypto_default().randomBytes(4).toString('hex')}`;
    const fd = external_node_fs_default().openSync(tmp, (external_node_fs_default()).constants.O_WRONLY | (external_node_fs_default()).constants.O_CREAT | (external_node_fs_default()).constants.O_EXCL | (external_node_fs_default()).constants.O_NOFOLLOW, 0o600);
    try {
        external_node_fs_default().writeSync(fd, JSON.stringify(state));
    }
    finally {
        external_node_fs_default().closeSync(fd);
    }
    external_node_fs_default().renameSync(tmp, file);
}
/** The restore step's state for this store, or undefined (none, or unreadable: said, then ignored). */
function readRestoreRecord(cfg) {
    const file = recordPath(cfg);
    let fd;
    try {
        fd = external_node_fs_default().openSync(file, (external_node_fs_default()).constants.O_RDONLY | (external_node_fs_default()).constants.O_NOFOLLOW | (external_node_fs_default()).constants.O_NONBLOCK);
    }
    catch (e) {
        if (e.code === 'ENOENT')
            return undefined;
        core_warning(`runbox store: the restore step's record ${file} cannot be opened (${errorMessage(e)}); saving as if nothing was restored`);
        return undefined;
    }
    try {
        const st = external_node_fs_default().fstatSync(fd);
        if (!st.isFile() || st.uid !== process.getuid?.() || st.size > MAX_RECORD_BYTES)
            throw new Error('not a small regular file of the runner user');
        const buf = Buffer.alloc(st.size);
        external_node_fs_default().readSync(fd, buf, 0, st.size, 0);
        const state = storeStateFrom(JSON.parse(buf.toString('utf8')));
        if (state.kind !== cfg.kind || state.root !== cfg.root || state.storePaths.join('|') !== cfg.storePaths.join('|'))
            throw new Error('it is about another store');
        return state;
    }
    catch (e) {
        core_warning(`runbox store: the restore step's record ${file} is not usable (${errorMessage(e)}); saving as if nothing was restored`);
        return undefined;
    }
    finally {
        external_node_fs_default().closeSync(fd);
    }
}

;// CONCATENATED MODULE: ./src/store/gc.ts
// Post, before the snapshot is made (`gc` input): collect the store's garbage through its own
// tool until the store is at or under the cap, so a snapshot (and the cache entry, which holds
// the store) stops growing with every job. The tool decides what is garbage: GC roots (profiles,
// `result` links, /nix/var/nix/gcroots, /var/guix/gcroots, the daemon's temp roots of builds in
// flight) are never touched by runbox itself.
//
// The size is the sum of the valid paths' narSize in the daemon's DB, not `du`: one read-only
// query instead of a walk of every file of a store that may hold millions, and the measure the
// tools' own GC counts in (Nix's --max-freed and Guix's --collect-garbage compare bytes of the
// files they delete) and the snapshot holds (the registrations of every valid path, their files
// once). It leaves out block rounding and the dedup of `.links`, so the store on disk is usually
// a little smaller than what is reported; invalid paths on disk, which no snapshot restores, are
// not counted either (and the GC removes them).
//
// Nix: `nix-store --gc --max-freed <bytes over the cap>` as root, which works on the store
// directly (as root it takes the GC lock itself and asks the daemon, if one runs, for its temp
// roots), so it needs no daemon. Guix: `guix gc --collect-garbage=<bytes>`, a client of
// guix-daemon, which must run: runbox stops the daemon only while a restore moves items in, under
// the host-wide restore lock, and that lock is held here too, so a GC never runs during a move
// (where it would delete the moved-in, not yet registered items as invalid paths).










/** A GC that frees less than asked (hard-linked files count only once gone) gets a few more tries. */
const MAX_PASSES = 3;
/** An executable `name` on the runner's PATH, absolute, so that root (through sudo, whose PATH may differ) runs the same one. */
function findTool(name, envPath = process.env.PATH ?? '') {
    for (const dir of envPath.split(':')) {
        if (!external_node_path_default().isAbsolute(dir))
            continue;
        const p = external_node_path_default().join(dir, name);
        try {
            external_node_fs_default().accessSync(p, (external_node_fs_default()).constants.X_OK);
            if (external_node_fs_default().statSync(p).isFile())
                return p;
        }
        catch (e) {
            // Not there, or not ours to run: the next PATH entry may have it.
            if (!['ENOENT', 'EACCES', 'ENOTDIR'].includes(e.code ?? ''))
                throw e;
        }
    }
    return undefined;
}
/** narSize of the valid paths directly in the store dir, and their count, from the live DB (db.ts's reader: creates no -wal/-shm). */
async function storeSize(kind, root) {
    const preset = PRESETS[kind];
    // The store dir is a fixed preset path: no quoting of outside data into the SQL.
    const sql = `SELECT count(*) || ' ' || coalesce(sum(narSize), 0) FROM ValidPaths WHERE path LIKE '${preset.storeDir}/%'`;
    const out = await queryLiveDb(root, preset.dbDir, sql);
    if (out === undefined)
        return undefined;
    const m = /^(\d+) (\d+)$/.exec(out);
    if (!m)
        throw new Error(`the DB ${external_node_path_default().join(root, preset.dbDir, DB_FILE)} answered '${out.slice(0, 100)}' for the store's size`);
    return { paths: Number(m[1]), bytes: Number(m[2]) };
}
/** The tool's argv that frees at least `bytes`, or why there is none. */
function gcCommand(kind, root, bytes) {
    if (kind === 'nix') {
        const tool = findTool('nix-store');
        if (!tool)
            return 'nix-store is not on the PATH';
        // A test root (RUNBOX_STORE_ROOT) is passed the way db.ts passes it to --register-validity.
        const store = root === '/' ? [] : /^\/[A-Za-z0-9/._-]+$/.test(root) ? ['--store', `local?root=${root}`] : undefined;
        if (!store)
            return `the store root ${root} cannot be passed to nix-store`;
        return { cmd: tool, args: [...store, '--gc', '--max-freed', String(bytes)] };
    }
    const tool = findTool('guix');
    if (!tool)
        return 'guix is not on the PATH';
    if (root !== '/')
        return `guix gc works on the daemon's store only, not on the store root ${root}`;
    return { cmd: tool, args: ['gc', `--collect-garbage=${bytes}`] };
}
/**
 * Collects garbage until the store is at or under the cap. Never throws: a GC that cannot run
 * is a warning, and the snapshot is saved as the store is. Resolves to undefined when nothing
 * was measured or run.
 */
async function collectGarbage(o, report) {
    try {
        return await withStoreRestoreLock(realStoreDir(o.root, o.kind), async (busy) => {
            if (busy) {
                core_warning(`runbox store: no garbage collected before the save (gc: ${formatBytes(o.capBytes)}): ${busy}`);
                report.add('store gc', `not run: ${busy}`);
                return undefined;
            }
            return await collectLocked(o, report);
        }, { timeoutSec: o.lockTimeoutSec });
    }
    catch (e) {
        core_warning(`runbox store: the garbage collection before the save failed, the snapshot is saved as the store is: ${errorMessage(e)}`);
        report.add('store gc', `failed: ${errorMessage(e)}`);
        return undefined;
    }
}
async function collectLocked(o, report) {
    const cap = formatBytes(o.capBytes);
    const first = await storeSize(o.kind, o.root);
    if (!first) {
        report.add('store gc', `not run: no ${o.kind} DB at ${external_node_path_default().join(o.root, PRESETS[o.kind].dbDir)}, so nothing is registered to measure or collect`);
        return undefined;
    }
    const result = { before: first.bytes, after: first.bytes, pathsBefore: first.paths, pathsAfter: first.paths, passes: 0 };
    const t0 = Date.now();
    let now = first;
    while (now.bytes > o.capBytes && result.passes < MAX_PASSES) {
        const c = gcCommand(o.kind, o.root, now.bytes - o.capBytes);
        if (typeof c === 'string') {
            core_warning(`runbox store: the store is ${formatBytes(now.bytes)}, over its gc cap ${cap}, but no garbage is collected: ${c}. The snapshot is saved as the store is`);
            report.add('store gc', `not run: ${c}; the store is ${formatBytes(now.bytes)} (cap ${cap})`);
            return undefined;
        }
        info(`the store is ${formatBytes(now.bytes)} in ${now.paths} valid paths, over its gc cap ${cap}: collecting ${now.bytes - o.capBytes} bytes`);
        await run(c.cmd, c.args, { privileged: true });
        result.passes++;
        const next = await storeSize(o.kind, o.root);
        if (!next)
            break;
        const progressed = next.bytes < now.bytes;
        now = next;
        // What is left is reachable from GC roots (or in use): another pass would find nothing.
        if (!progressed)
            break;
    }
    result.after = now.bytes;
    result.pathsAfter = now.paths;
    const freed = result.before - result.after;
    if (result.passes === 0)
        report.add('store gc', `nothing collected: the store is ${formatBytes(result.after)} (${result.pathsAfter} valid paths), within its cap ${cap}`);
    else
        report.add('store gc', `freed ${formatBytes(freed)} (${result.pathsBefore - result.pathsAfter} paths) in ${formatSeconds(Date.now() - t0)}: the store is now ${formatBytes(result.after)} (${result.pathsAfter} valid paths, narSize), cap ${cap}`);
    if (result.after > o.capBytes)
        core_warning(`runbox store: after garbage collection the store is still ${formatBytes(result.after)}, over its gc cap ${cap}: the rest is reachable from GC roots (profiles, result links, gcroots) or in use. Raise 'gc', or remove roots`);
    return result;
}

;// CONCATENATED MODULE: ./src/store/save.ts
// Post: snapshot the store and hand it to the cache, unless main restored exactly this key
// (save: auto) or saving is off. Whatever the job's outcome: a failed build registers no store
// items, so the store is still consistent. Nothing here fails the job; a snapshot that cannot
// be made or uploaded is a warning.

















/** What was saved (for purge), or undefined when nothing was. */
async function saveStore(state, report) {
    try {
        return await save(state, report);
    }
    finally {
        if (state.base)
            try {
                removeBaseInfo(state.base.file, state.stagingBase);
            }
            catch (e) {
                core_warning(`runbox store: could not remove ${state.base.file}: ${errorMessage(e)}`);
            }
    }
}
/** The base a delta may be saved over, or why not (then a full snapshot). */
function deltaBase(state) {
    if (state.delta === 'off')
        return 'delta: off';
    if (!state.base)
        return state.matchedKey ? 'no base recorded by main' : 'main restored nothing to build on';
    if (state.base.key === state.primaryKey)
        return `the base is ${state.primaryKey} itself`;
    const info = readBaseInfo(state.base.file, state.base.sha256);
    if (typeof info === 'string') {
        core_warning(`runbox store: saving a full snapshot, not a delta: ${info}`);
        return info;
    }
    if (info.key !== state.base.key)
        return `the base item list names ${info.key}, not ${state.base.key}`;
    return { key: info.key, bytes: info.bytes, items: new Set(info.items) };
}
async function save(state, report) {
    if (state.save === 'never') {
        report.add('store snapshot', 'not saved (save: never)');
        return undefined;
    }
    if (state.save === 'auto' && state.exactHit) {
        // exactHit without a matched key: lookup-only found the entry under the key without restoring it.
        report.add('store snapshot', state.matchedKey ? `not saved: main restored ${state.primaryKey} exactly (save: auto)` : `not saved: the cache holds ${state.primaryKey} already (lookup-only found it; save: auto)`);
        return;
    }
    let staging;
    try {
        // Read here from the input, not from main's state: the state file is plain JSON on the
        // runner's disk, and a private key must never be written anywhere by runbox. Main already
        // refused bad key material, so an error here means the input changed in between.
        const signingKey = parseSigningKey(actionInputs);
        // Root's tar and the gc read and delete through the store paths as given (the archive's
        // member names are those paths): only through links root made, checked again here, since
        // the dirs above a store path may have changed since main.
        realStorePaths(state.root, state.storePaths);
        // A snapshot will be made (or the key is found taken): the commands from here on go through
        // the launcher once it is up (sys/launch.ts).
        prepareLauncher();
        await ensurePrivilege('read the root-owned store to snapshot it');
        // Only the tar member lists and the raw registrations go here (a few MiB for a big store):
        // the snapshot itself streams from zstd to the cache upload.
        staging = createStaging(state.stagingBase);
        const scratchDir = external_node_path_default().join(staging, 'scratch');
        external_node_fs_default().mkdirSync(scratchDir);
        // Before the snapshot: what the GC removes is then not saved. Its failures are warnings.
        const gc = state.gc ? await collectGarbage({ kind: state.kind, root: state.root, capBytes: state.gc.capBytes, lockTimeoutSec: state.gc.lockTimeoutSec }, report) : undefined;
        // A delta holds only what its base lacks, so restoring base + delta would bring back every
        // base item the GC just deleted: after a GC that freed anything, a full snapshot.
        const base = gc && gc.after < gc.before ? 'the gc removed items; a delta would bring them back with its base' : deltaBase(state);
        // Looked up before the archive: a key another job saved first costs no snapshot. The key is
        // reserved only when the first block is ready (a save failing before reserves nothing);
        // until upload.finish() succeeds the service holds no entry under it.
        const upload = await beginEntry(state.primaryKey, { kind: state.kind, storePaths: state.storePaths, ...(signingKey ? { signingKey } : {}) });
        if (!upload) {
            report.add('store snapshot', `not saved under ${state.primaryKey}; see the warnings above`);
            return undefined;
        }
        const t0 = Date.now();
        let r;
        try {
            r = await progress_withProgress('archiving and uploading the store (compressed so far)', () => upload.stream.handed, () => createSnapshot({
                root: state.root,
                kind: state.kind,
                storePaths: state.storePaths,
                ...(state.dbDir ? { dbDir: state.dbDir } : {}),
                ...(state.toolVersion ? { toolVersion: state.toolVersion } : {}),
                sink: upload.stream,
                scratchDir,
                shards: state.shards,
                ...(typeof base === 'string' ? {} : { base })
            }));
        }
        catch (e) {
            const warning = uploadFailure(e);
            if (!warning)
                throw e;
            core_warning(warning);
            report.add('store snapshot', `not saved under ${state.primaryKey}; see the warnings above`);
            return undefined;
        }
        const t1 = Date.now();
        if (r.missing.length > 0)
            info(`store paths not on disk, left out of the snapshot: ${r.missing.join(', ')}`);
        const bytes = manifestBytes(r.manifest);
        const id = await upload.finish();
        const t2 = Date.now();
        const baseBytes = typeof base === 'string' ? 0 : base.bytes;
        const kind = r.manifest.base
            ? `a delta over ${r.manifest.base.key} (${r.delta?.newItems ?? 0} new of ${r.delta?.items ?? 0} items, ${formatBytes(bytes)} = ${baseBytes > 0 ? ((100 * bytes) / baseBytes).toFixed(1) : '?'}% of the base's ${formatBytes(baseBytes)})`
            : `a full snapshot (${typeof base === 'string' ? `no delta: ${base}` : `no delta: ${r.delta?.reason ?? 'not due'}`})`;
        report.add('store snapshot', id === undefined
            ? `made ${kind} but not saved under ${state.primaryKey}; see the warnings above`
            : `saved ${state.primaryKey}, ${kind}: ${formatBytes(bytes)} compressed in ${r.manifest.archives.length} archive(s) (${r.manifest.registrations ? `${r.manifest.registrations.paths} registrations` : 'no registrations'})`);
        if (signingKey && id !== undefined)
            report.add('store snapshot signer', `${signing_publicKeyLine(signingKey)} (put this line in trusted-keys to accept only snapshots signed by this key)`);
        // The blocks go up while the archive is made: "upload" is only what is left after it (the
        // index, the commit and finalize).
        report.add('store save time', `DB read ${formatSeconds(r.dbMs)}, archive ${formatSeconds(t1 - t0 - r.dbMs)}, upload ${formatSeconds(t2 - t1)} (after the archive, which uploaded as it went)`);
        // For purge: the saved entry and the base its manifest names stay.
        if (id !== undefined)
            return { key: state.primaryKey, ...(r.manifest.base ? { base: r.manifest.base.key } : {}) };
        return undefined;
    }
    catch (e) {
        // Removed first, so that the free space it reports is what the host really has.
        if (staging)
            removeStagingOrWarn(staging, state.stagingBase);
        staging = undefined;
        const space = stagingSpaceProblem(e, state.stagingBase, "the snapshot's member lists");
        const why = space ? `${space} (${errorMessage(e)})` : errorMessage(e);
        core_warning(`runbox store: no snapshot saved, the job goes on: ${why}`);
        report.add('store snapshot', `not saved: ${why}`);
        return undefined;
    }
    finally {
        if (staging)
            removeStagingOrWarn(staging, state.stagingBase);
    }
}
function removeStagingOrWarn(staging, base) {
    try {
        removeStaging(staging, base);
    }
    catch (e) {
        core_warning(`runbox store: could not remove the staging dir ${staging}: ${errorMessage(e)}`);
    }
}

;// CONCATENATED MODULE: ./src/store/purge-config.ts
// The purge inputs, validated by main before anything happens and read again by post (the token
// only ever from the input: like signing-key, it is never written to the run state).





/** Deletions one post makes at most; the rest waits for the next post (REST rate limits are per hour). */
const MAX_DELETIONS = 50;
const PURGE_INPUTS = ['purge-prefixes', 'purge-created-before', 'purge-last-accessed-before'];
/** The validated purge config, or undefined when `purge` is false. */
function parsePurgeConfig(src, store) {
    const on = parseBoolean(src, 'purge', false);
    if (!on) {
        // A purge setting without purge is a half-written config, not "off".
        for (const name of PURGE_INPUTS)
            if (src.value(name) !== '')
                throw new InputError(name, "it is set while 'purge' is false", "Set 'purge: true', or remove it");
        return undefined;
    }
    if (!store)
        throw new InputError('purge', "it is true while 'store' is empty: there are no runbox snapshots to purge", "Set 'store' to 'guix' or 'nix', or remove 'purge'");
    const lines = src.lines('purge-prefixes');
    for (const p of lines) {
        const problem = keyProblem(p);
        if (problem)
            throw new InputError('purge-prefixes', `'${p.length > 60 ? `${p.slice(0, 60)}...` : p}': ${problem}`, 'Give key prefixes as in restore-keys, one per line');
    }
    const duration = (name) => {
        const v = src.value(name);
        return v === '' ? undefined : parseDuration(name, v);
    };
    const createdBeforeSec = duration('purge-created-before');
    const lastAccessedBeforeSec = duration('purge-last-accessed-before');
    const token = src.value('token');
    // An unexpanded default means an Actions runtime that does not evaluate expressions in defaults.
    if (token === '' || token.includes('${{'))
        throw new InputError('token', "it is empty while 'purge' is true", "Leave 'token' at its default (github.token) and give the job 'permissions: actions: write', or pass a token with that permission from a secret");
    core_setSecret(token);
    return {
        ...(lines.length > 0 ? { prefixes: lines } : {}),
        ...(createdBeforeSec !== undefined ? { createdBeforeSec } : {}),
        ...(lastAccessedBeforeSec !== undefined ? { lastAccessedBeforeSec } : {}),
        token
    };
}

;// CONCATENATED MODULE: ./src/store/purge-select.ts

const newerFirst = (a, b) => b.createdAt - a.createdAt || b.id - a.id;
function planPurge(listed, f) {
    const byId = new Map();
    for (const e of listed)
        byId.set(e.id, e);
    const all = [...byId.values()];
    const foreign = { otherVersion: 0, otherRef: 0 };
    const scope = [];
    for (const e of all) {
        if (!f.prefixes.some((p) => e.key.startsWith(p)))
            continue;
        if (e.version !== f.version)
            foreign.otherVersion++;
        else if (e.ref !== f.ref)
            foreign.otherRef++;
        else
            scope.push(e);
    }
    scope.sort(newerFirst);
    // Entries whose content post knows: the one it saved (its base is in its manifest), and the
    // bases themselves (always full snapshots). A restored entry is known when main recorded its base.
    const known = new Map();
    const keepFor = new Map();
    if (f.saved) {
        known.set(f.saved.key, f.saved.base);
        keepFor.set(f.saved.key, 'saved by this job');
        if (f.saved.base !== undefined && f.saved.base !== f.saved.key) {
            known.set(f.saved.base, undefined);
            keepFor.set(f.saved.base, `the base of ${f.saved.key}, the delta this job saved`);
        }
    }
    else if (f.restored) {
        keepFor.set(f.restored.key, 'restored by this job, which saved nothing newer');
        if (f.restored.base !== undefined) {
            known.set(f.restored.key, f.restored.base === f.restored.key ? undefined : f.restored.base);
            if (f.restored.base !== f.restored.key) {
                known.set(f.restored.base, undefined);
                keepFor.set(f.restored.base, `the base of ${f.restored.key}, the delta this job restored`);
            }
        }
    }
    for (const p of f.prefixes) {
        const newest = scope.find((e) => e.key.startsWith(p));
        if (newest && !keepFor.has(newest.key))
            keepFor.set(newest.key, `the newest entry for ${p}`);
    }
    const kept = [];
    const candidates = [];
    for (const e of scope) {
        const why = keepFor.get(e.key) ??
            (f.createdBefore !== undefined && e.createdAt >= f.createdBefore
                ? 'created after the purge-created-before cut-off'
                : f.lastAccessedBefore !== undefined && e.lastAccessedAt >= f.lastAccessedBefore
                    ? 'used after the purge-last-accessed-before cut-off'
                    : undefined);
        if (why)
            kept.push({ entry: e, why });
        else
            candidates.push(e);
    }
    // The delta-base guard: a kept entry of unknown content shields every older entry.
    const unknown = kept.filter((k) => !known.has(k.entry.key)).map((k) => k.entry);
    const remove = [];
    for (const c of candidates) {
        const shield = unknown.filter((u) => newerFirst(u, c) < 0).pop();
        if (shield)
            kept.push({ entry: c, why: `older than ${shown(shield.key)}, which stays and may be a delta over it` });
        else
            remove.push(c);
    }
    // Newest first within the bound: what stays over it is older than everything deleted, so it
    // can name none of the deleted entries as its base.
    for (const e of remove.splice(f.maxDeletions))
        kept.push({ entry: e, why: `over the ${f.maxDeletions} deletions one post makes; a later post goes on` });
    kept.sort((a, b) => newerFirst(a.entry, b.entry));
    return { remove, kept, foreign };
}

;// CONCATENATED MODULE: ./src/store/purge.ts
// Post, after the save: delete this store's superseded snapshots from the repository's Actions
// cache (`purge: true`), so that the service's own eviction, in whatever order it picks, never
// has to make room by dropping the base of a delta runbox still relies on. What goes is decided
// in purge-select.ts; this module lists, deletes and reports. Nothing here fails the job: a
// refusal (no permission, a rate limit, an API that stays down) is a warning.











const ADVICE = {
    permission: "give the job 'permissions: actions: write' (or pass a token with it in 'token')",
    'rate-limit': 'a later post purges what is left',
    auth: "check the 'token' input",
    unavailable: 'a later post purges what is left',
    malformed: 'a later post purges what is left'
};
function refused(report, r, deleted) {
    core_warning(`runbox purge: ${r.message}; ${deleted}; ${ADVICE[r.kind]}. The job goes on.`);
    report.add('store purge', `stopped: ${r.message}; ${deleted}`);
}
function listKeys(entries, max = 10) {
    const shownKeys = entries.slice(0, max).map((e) => shown(e.key));
    return `${shownKeys.join(', ')}${entries.length > max ? ` and ${entries.length - max} more` : ''}`;
}
/** Runs purge when the inputs ask for it; every problem is a warning. */
async function purgeAfterSave(state, saved, report, env = process.env) {
    let cfg;
    let restoreKeys;
    try {
        const store = parseStoreConfig(actionInputs, env);
        cfg = parsePurgeConfig(actionInputs, store);
        restoreKeys = store?.restoreKeys;
    }
    catch (e) {
        // Main refused the same inputs before it restored anything; post has nothing to add.
        info(`runbox purge: not run (${errorMessage(e)})`);
        return;
    }
    if (!cfg)
        return;
    try {
        await purge(state, saved, cfg, restoreKeys, report, env);
    }
    catch (e) {
        core_warning(`runbox purge: ${errorMessage(e)}. The job goes on.`);
        report.add('store purge', `failed: ${errorMessage(e)}`);
    }
}
async function purge(state, saved, cfg, restoreKeys, report, env) {
    const ref = (env.GITHUB_REF ?? '').trim();
    const repository = (env.GITHUB_REPOSITORY ?? '').trim();
    if (ref === '' || !/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repository)) {
        core_warning('runbox purge: GITHUB_REF or GITHUB_REPOSITORY is not set as the runner sets it; nothing purged');
        report.add('store purge', 'not run: GITHUB_REF or GITHUB_REPOSITORY is not set');
        return;
    }
    const target = { apiUrl: (env.GITHUB_API_URL ?? '').trim() || 'https://api.github.com', repository, token: cfg.token };
    const restore = restoreKeys ?? defaultRestoreKey(state.primaryKey);
    const prefixes = cfg.prefixes ?? (restore.length > 0 ? restore : [state.primaryKey]);
    const now = Date.now();
    const listed = [];
    let truncated = false;
    for (const p of prefixes) {
        const r = await listCaches(target, p, ref);
        if (isRefusal(r))
            return refused(report, r, 'nothing deleted');
        listed.push(...r.entries);
        truncated ||= r.truncated;
    }
    const facts = {
        version: entryVersion(state.kind, state.storePaths),
        ref,
        prefixes,
        ...(saved ? { saved } : {}),
        ...(state.matchedKey ? { restored: { key: state.matchedKey, ...(state.base ? { base: state.base.key } : {}) } } : {}),
        ...(cfg.createdBeforeSec !== undefined ? { createdBefore: now - cfg.createdBeforeSec * 1000 } : {}),
        ...(cfg.lastAccessedBeforeSec !== undefined ? { lastAccessedBefore: now - cfg.lastAccessedBeforeSec * 1000 } : {}),
        maxDeletions: MAX_DELETIONS
    };
    const plan = planPurge(listed, facts);
    const deleted = [];
    let gone = 0;
    let stop;
    for (const e of plan.remove) {
        const r = await deleteCache(target, e.id);
        if (r === 'deleted')
            deleted.push(e);
        else if (r === 'gone')
            gone++;
        else {
            stop = r;
            break;
        }
    }
    const bytes = deleted.reduce((n, e) => n + e.sizeInBytes, 0);
    const what = `deleted ${deleted.length} entr${deleted.length === 1 ? 'y' : 'ies'} (${formatBytes(bytes)})${deleted.length > 0 ? `: ${listKeys(deleted)}` : ''}`;
    if (stop)
        refused(report, stop, what);
    else
        report.add('store purge', `${what}${gone > 0 ? `; ${gone} already gone` : ''} (prefixes ${prefixes.map((p) => shown(p)).join(', ')}, ref ${shown(ref)})${truncated ? `; the listing stopped after its page limit, a later post sees the rest` : ''}`);
    if (plan.kept.length > 0)
        report.add('store purge kept', plan.kept
            .slice(0, 10)
            .map((k) => `${shown(k.entry.key)} (${k.why})`)
            .join('; ') + (plan.kept.length > 10 ? `; and ${plan.kept.length - 10} more` : ''));
    const { otherVersion, otherRef } = plan.foreign;
    if (otherVersion + otherRef > 0)
        report.add('store purge skipped', `${otherRef} entr${otherRef === 1 ? 'y' : 'ies'} of other refs and ${otherVersion} that are not runbox ${state.kind} snapshots of these store paths; purge never touches those`);
}

;// CONCATENATED MODULE: ./src/store/index.ts
// The store-snapshot capability: main calls restoreStore, post calls saveStore with the state
// main returned (kept in RunState.store).

// One snapshot, or with restore-all-matches every match merged (restore-all.ts dispatches).








;// CONCATENATED MODULE: ./src/dirs/warm.ts
// Warm per-run dirs. A fleet that moved to per-run target dirs lost incremental-compilation
// warmth; `warm` gives it back by starting each new `run` dir as a clone of the same dir of the
// newest FINISHED run of the same ref, never a live one: a live dir is still being written, and
// cloning it mid-build yields a torn tree that build tools may trust.
//
// "Finished" is the liveness lock (see liveness.ts): a run dir whose `<dir>.lock` is free. We
// keep that lock while copying, so a janitor cannot reap the source mid-copy, and release it
// after. The copy goes to a hidden sibling first and is renamed over the empty target only when
// complete, so a killed or failed copy never leaves a half-filled dir that a later run (or a
// later warm) would take as a real build state.












const MODES = ['off', 'reflink', 'copy'];
function parseWarm(src) {
    const raw = src.value('warm');
    if (raw === '')
        return 'off';
    const mode = MODES.find((m) => m === raw.toLowerCase());
    if (mode)
        return mode;
    throw new InputError('warm', `'${raw}' is not a warm mode`, "Write 'off' (the default), 'reflink' (a copy-on-write clone of the newest finished run's dir, where the filesystem supports it) or 'copy' (a full copy)");
}
/**
 * The newest finished run dir of this ref that has a real `<name>` dir, claimed: its lock is held
 * by us until the caller calls release(). Live runs, this run's own dir, symlinks and anything
 * resolving outside base-dir are never returned.
 */
async function findWarmSource(layout, name, ownRunDir) {
    const refSt = visibleStat(layout.refDir);
    // lstat: a symlinked ref dir is not a directory here, so it is never followed.
    if (!refSt?.isDirectory())
        return undefined;
    try {
        assertOwnedSubdir(layout.refDir, layout.baseDir);
    }
    catch (e) {
        core_warning(`runbox warm: not looking for warm sources in ${layout.refDir}: ${errorMessage(e)}`);
        return undefined;
    }
    for (const c of listCandidates(layout.refDir, name, ownRunDir)) {
        const source = await claim(c, name, layout.baseDir);
        if (source)
            return source;
    }
    return undefined;
}
/** Run dirs of the ref dir that may hold a `<name>` dir, newest first. A lock-free, read-only scan; claim() re-checks. */
function listCandidates(refDir, name, ownRunDir) {
    // The layout's one scanner: no symlinked run dir or lock file, nothing another runner user
    // made unreadable (not ours to copy from); a ref dir reaped away meanwhile has nothing to warm from.
    const scan = scanKeyDir(refDir);
    if (!scan)
        return [];
    for (const s of scan.skipped)
        core_debug(`runbox warm: not a warm source: ${s.path}: ${s.reason}`);
    const own = external_node_path_default().resolve(ownRunDir);
    const out = [];
    for (const d of scan.dirs) {
        if (!d.isRun || d.path === own)
            continue;
        if (!visibleStat(external_node_path_default().join(d.path, name))?.isDirectory())
            continue;
        // An empty one (a run that built nothing, or died before its own warm copy landed) is no
        // warmer than a cold start, and would hide an older full one.
        if (isEmptyDir(external_node_path_default().join(d.path, name)))
            continue;
        out.push({ runDir: d.path, lockPath: d.lockPath, lastUse: d.lockStat ? d.lockStat.mtime : d.dirStat.mtime });
    }
    return out.sort((a, b) => b.lastUse.getTime() - a.lastUse.getTime() || (a.runDir < b.runDir ? 1 : -1));
}
/** Claims the candidate (lock/claim.ts: its lock if free, its shape re-checked under it), then its `<name>` dir. */
async function claim(c, name, baseDir) {
    const outcome = await claimDeadDir(c.runDir, c.lockPath, { withoutLockFile: 'create', hiddenIsMissing: true });
    if (!outcome.claimed) {
        core_debug(`runbox warm: ${c.runDir} is not a warm source: ${outcome.skipped}${outcome.inUse ? ' (in use by a live run)' : ''}`);
        return undefined;
    }
    const claimed = outcome.claimed;
    // A lock file our tryLock made is removed again, so that the janitor's idea of this dir's last
    // use stays what it was.
    const release = once(() => (claimed.createdLockFile ? void claimed.releaseAndRemoveLockFile() : claimed.release()));
    const source = external_node_path_default().join(c.runDir, name);
    try {
        // The scan was lock-free: the `<name>` dir may have been replaced by a symlink since.
        if (!visibleStat(source)?.isDirectory()) {
            release();
            return undefined;
        }
        assertOwnedSubdir(source, baseDir);
    }
    catch (e) {
        release();
        core_warning(`runbox warm: not using ${source}: ${errorMessage(e)}`);
        return undefined;
    }
    return { path: source, release };
}
/** cp's words for a filesystem (or a pair of them) that cannot share extents. */
const REFLINK_REFUSED = /Operation not supported|Invalid cross-device link|Inappropriate ioctl for device|Function not implemented|Invalid argument/;
/**
 * Fills the freshly created, empty `target` with a copy of `source`, owned by `owner`. A reflink
 * the filesystem refuses falls back to off (cold), not to a full copy: silently copying a 20 GB
 * target dir is a slower surprise than a cold build. Any other failure is a warning and cold too:
 * warmth is an optimisation, and the target is left empty either way.
 */
async function warmDir(mode, source, target, owner) {
    const start = Date.now();
    const off = (reason) => ({ mode: 'off', source, bytes: 0, files: 0, ms: Date.now() - start, reason });
    if (mode === 'off')
        return off('warm is off');
    const tSt = external_node_fs_default().lstatSync(target);
    if (!tSt.isDirectory())
        throw new Error(`cannot warm ${target}: it is not a real directory`);
    if (external_node_fs_default().readdirSync(target).length > 0)
        throw new Error(`cannot warm ${target}: it is not empty (warm only fills a freshly created dir)`);
    // A name no dir NAME can have (they start with a letter or digit), beside the target so that
    // the final rename stays on one filesystem.
    const staging = external_node_path_default().join(external_node_path_default().dirname(target), `.warm-${external_node_path_default().basename(target)}`);
    let stagingMade = false;
    try {
        // Only a run dir's own warm step makes it, and a run dir is never reused.
        if (visibleStat(staging))
            throw new Error(`${staging} exists already`);
        const stats = await scanTree(source);
        const runner = runnerIds();
        // A container's files (another uid, maybe unreadable 0700 dirs) can only be copied, with their
        // owners, as root; our own files need no privilege.
        const privileged = !isRoot() && (stats.unreadable || stats.foreignTo(runner) > 0);
        if (privileged)
            await ensurePrivilege(`copy ${source}, which holds files of other users, into ${target}`);
        if (mode === 'reflink') {
            const refused = await reflinkRefusal(stats.firstFile, source, staging, privileged);
            if (refused) {
                const why = `the filesystem cannot share extents between ${source} and ${target} (${refused})`;
                info(`runbox warm: reflink not possible: ${why}; starting ${target} cold (a full copy is 'warm: copy')`);
                return off(`reflink refused: ${refused}`);
            }
        }
        // 'copy' leaves cp its default, which since coreutils 9 is --reflink=auto: a clone where the
        // filesystem can, a full copy where it cannot. -x: a mount left inside the source is not ours.
        const args = ['-a', '-x', ...(mode === 'reflink' ? ['--reflink=always'] : []), '-T', '--', source, staging];
        stagingMade = true;
        await run('cp', args, { privileged });
        // cp -a as root keeps each file's owner, normally the previous run's owner, i.e. ours too;
        // without privilege everything lands as the runner's.
        const preserved = isRoot() || privileged;
        if (preserved ? stats.foreignTo(owner) > 0 : !warm_sameIds(runner, owner))
            await chown([staging], owner, { recursive: true });
        // Replaces the empty target in one step: nobody ever sees a half-warm dir at its path.
        external_node_fs_default().renameSync(staging, target);
        stagingMade = false;
        return { mode, source, bytes: stats.bytes, files: stats.files, ms: Date.now() - start };
    }
    catch (e) {
        core_warning(`runbox warm: could not ${mode} ${source} into ${target}, so it starts cold: ${errorMessage(e)}`);
        return off(`failed: ${errorMessage(e)}`);
    }
    finally {
        if (stagingMade)
            await warm_removeStaging(staging);
    }
}
/** One walk for the report's size figures, the probe file and the ownership decisions. */
async function scanTree(dir) {
    // %y type, %U:%G owner, %s size, %P path relative to dir; NUL-separated since names may hold newlines.
    const args = [dir, '-xdev', '-printf', '%y %U:%G %s %P\\0'];
    // A run dir with many files lists past run()'s default bound; it is the job's own dir.
    const maxStdout = 400 * 1024 * 1024;
    const r = await runElseRoot('find', args, `read ${dir}, which holds files the runner user cannot read`, { maxStdout });
    const unreadable = r.escalated;
    const owners = new Map();
    let files = 0;
    let bytes = 0;
    let firstFile;
    for (const rec of r.stdout.split('\0')) {
        if (rec === '')
            continue;
        const [type, ids, size] = rec.split(' ', 3);
        const rel = rec.slice(type.length + ids.length + size.length + 3);
        owners.set(ids, (owners.get(ids) ?? 0) + 1);
        if (type === 'd')
            continue;
        files++;
        if (type === 'f') {
            bytes += Number(size);
            firstFile ??= external_node_path_default().join(dir, rel);
        }
    }
    const foreignTo = (ids) => {
        let n = 0;
        for (const [k, count] of owners)
            if (k !== `${ids.uid}:${ids.gid}`)
                n += count;
        return n;
    };
    return { files, bytes, firstFile, unreadable, foreignTo };
}
/**
 * Clones one file first: on a filesystem without reflink, `cp --reflink=always` would otherwise
 * create every dir and an empty file for every file of a large tree, failing each one. Returns
 * cp's reason when the filesystem refuses; throws on any other failure.
 */
async function reflinkRefusal(file, source, staging, privileged) {
    if (file === undefined)
        return undefined; // nothing to clone: a plain cp -a of dirs and links is just as fast
    const probe = `${staging}.probe`;
    const r = await run('cp', ['--reflink=always', '--', file, probe], { privileged, allowFailure: true });
    const made = visibleStat(probe) !== undefined;
    if (made)
        await removeTree(probe);
    if (r.code === 0)
        return undefined;
    const refused = REFLINK_REFUSED.exec(r.stderr);
    if (refused)
        return refused[0];
    throw new Error(`probing reflink with ${file} from ${source} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
}
async function warm_removeStaging(staging) {
    try {
        await removeTree(staging);
    }
    catch (e) {
        // The run dir (and with it this leftover) goes at post or with the janitor; the target itself is untouched.
        core_warning(`runbox warm: could not remove ${staging}: ${errorMessage(e)}`);
    }
}
// --- the step ---------------------------------------------------------------------------------
/**
 * Called by main after this run's dirs exist and before they are handed over: warms each `run`
 * dir (a `pr` dir is shared by the ref's runs and so already warm) from the newest finished run
 * of this ref. Reports each warmed dir's clone time against its size.
 */
async function warmRunDirs(mode, layout, dirs, owner, report) {
    if (mode === 'off')
        return [];
    const out = [];
    for (const d of dirs) {
        if (d.scope !== 'run')
            continue;
        const source = await findWarmSource(layout, d.name, layout.runDir);
        if (!source) {
            info(`runbox warm: no finished run of this ref left a '${d.name}' dir; ${d.path} starts cold`);
            continue;
        }
        let r;
        try {
            r = await warmDir(mode, source.path, d.path, owner);
        }
        finally {
            source.release();
        }
        out.push(r);
        if (r.mode !== 'off')
            report.add(`warm ${d.name}`, `${r.mode} of ${source.path}: ${formatBytes(r.bytes)} in ${r.files} files in ${formatSeconds(r.ms)}`);
        else
            report.add(`warm ${d.name}`, `cold (${mode} from ${source.path}: ${r.reason ?? 'not done'})`);
    }
    return out;
}
// --- small helpers ----------------------------------------------------------------------------
function warm_sameIds(a, b) {
    return a.uid === b.uid && a.gid === b.gid;
}
function once(fn) {
    let done = false;
    return () => {
        if (done)
            return;
        done = true;
        fn();
    };
}
/** undefined when missing, or hidden from us (EACCES: another runner user's 0700 dir is no source for us). */
function visibleStat(p) {
    return lstatOrUndefined(p, { hiddenIsMissing: true });
}
function isEmptyDir(p) {
    try {
        return external_node_fs_default().readdirSync(p).length === 0;
    }
    catch (e) {
        // A container's 0700 dir we cannot list as the runner user is not empty, and cp reads it as root.
        if (errnoOf(e) === 'EACCES')
            return false;
        if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR')
            return true;
        throw e;
    }
}

;// CONCATENATED MODULE: ./src/action/step-state.ts
// What main hands to post. One JSON document under one state name, rewritten as main
// progresses, so a main that fails half-way still leaves post enough to tear down what exists.

const STATE_NAME = 'runbox';
function saveRunState(state) {
    saveState(STATE_NAME, JSON.stringify(state));
}
function loadRunState() {
    const raw = getState(STATE_NAME);
    if (!raw)
        return undefined;
    const parsed = JSON.parse(raw);
    if (parsed.version !== 1)
        throw new Error(`runbox state version ${String(parsed.version)} is not understood by this post step`);
    return parsed;
}

;// CONCATENATED MODULE: ./src/steps/run-step.ts
// How a step ends, the same for main and post: a failure fails the step and leads its summary,
// and the summary is written once, also on failure and on cancel.



/**
 * Runs a step's body. `cancelled`, when given, is the summary row a cancel adds before the
 * summary is written. The cleanup that writes it is registered before the body runs, so on
 * cancel it runs last (cleanups run newest first) and the summary shows what the body got to.
 */
async function runStep(report, cancelled, body) {
    const summaryOnCancel = registerCleanup(() => {
        if (cancelled !== undefined)
            report.add('cancelled', cancelled);
        return report.write();
    });
    try {
        await body();
    }
    catch (e) {
        setFailed(errorMessage(e));
        report.fail(errorMessage(e));
    }
    finally {
        summaryOnCancel();
        await report.write();
    }
}

;// CONCATENATED MODULE: ./src/steps/store-outputs.ts
// What main and the restore sub-action say about a store restore: its outputs, set as soon as
// the key is known, and the warnings about a store-paths that leaves things out. Shared by the
// two steps, so neither imports the other.




/** restoreStore calls it as soon as the key is known, so the outputs exist whatever fails later, and again with what it restored. */
function setStoreOutputs(o) {
    setOutput('cache-primary-key', o.primaryKey);
    setOutput('cache-matched-key', o.matchedKey);
    setOutput('cache-hit', o.exactHit ? 'true' : 'false');
    if (o.matchedKeys)
        setOutput('matched-keys', JSON.stringify(o.matchedKeys));
}
/**
 * A DB dir left out of `store-paths`: restored items are never registered, and the daemon treats
 * them as invalid. Said at main, before anything is restored.
 */
function warnAboutDbDir(cfg) {
    const preset = PRESETS[cfg.kind];
    if (!cfg.dbDir)
        core_warning(`runbox store: 'store-paths' leaves out the ${cfg.kind} DB dir ${preset.dbDir}: items a restore adds are not registered, and the daemon treats them as invalid. Add ${preset.dbDir} to 'store-paths'`);
}
/**
 * After a miss, store paths that still do not exist mean post has nothing to save: no Guix or
 * Nix on this host, or a wrong `store-paths`. (A fresh host that restores its first store has
 * none either, so this waits for the restore.) Said at main rather than as post's warning.
 */
function warnAboutMissingStore(cfg, src) {
    const missing = cfg.storePaths.filter((p) => !external_node_fs_default().existsSync(external_node_path_default().join(cfg.root, p)));
    if (missing.length === 0)
        return;
    core_warning(`runbox store: ${missing.join(', ')} ${missing.length > 1 ? 'do' : 'does'} not exist on this host and nothing was restored into ${missing.length > 1 ? 'them' : 'it'}: unless a later step of this job installs ${cfg.kind === 'guix' ? 'Guix' : 'Nix'}, post will have nothing to save` +
        (src.lines('store-paths').length > 0 ? `; check 'store-paths'` : ` (is ${cfg.kind === 'guix' ? 'Guix' : 'Nix'} installed on the runner host?); install it, or remove 'store: ${cfg.kind}'`));
}

;// CONCATENATED MODULE: ./src/steps/main-step.ts
// The main step: validate everything, heal what a dead predecessor left, provision this run's
// dirs and mount sources, then (optionally) restore the store snapshot.



























/** The janitor, then the disk guard: only dirs whose lock is free, never this run's own. */
async function sweep(baseDir, reap, ours, report) {
    const j = await runJanitor(baseDir, reap, { exclude: ours });
    if (j.reaped.length > 0)
        report.add('reaped', `${j.reaped.length} dead dir(s), ${formatBytes(j.bytes)} freed: ${j.reaped.map((r) => r.path).join(', ')}`);
    if (!reap.diskLimit)
        return;
    const g = await guardDisk(baseDir, reap.diskLimit, { exclude: ours });
    const limit = describeLimit(reap.diskLimit);
    if (g.pruned.length > 0)
        report.add('disk guard', `pruned ${g.pruned.length} dir(s), ${formatBytes(g.bytes)} freed: ${g.pruned.map((r) => r.path).join(', ')}`);
    if (g.stillOverBy !== undefined && g.stillOverBy > 0) {
        // Who holds the space is what an admin needs next: those runs, or space outside base-dir.
        const live = g.live.map((l) => `${l.path}${l.holder ? ` (${l.holder})` : ''}`);
        const msg = `${baseDir} is still ${formatBytes(g.stillOverBy)} beyond disk-limit ${limit} (${describeUsage(g.after)}); nothing else under base-dir is prunable` +
            `; dirs held by live runs: ${live.join(', ') || 'none'}`;
        core_warning(`runbox disk guard: ${msg}`);
        report.add('disk guard', msg);
    }
    else if (g.pruned.length > 0)
        report.add('disk guard', `now within ${limit} (${describeUsage(g.after)})`);
}
/**
 * Holds the mount sources for the job (shared with jobs of the same owner), so that no job with
 * another owner chowns them under this job's containers. The holds are root's files: a runner
 * without root rights goes on without them, as before, and says so.
 */
async function holdMounts(mounts, owner, timeoutSec, ctx) {
    if (mounts.length === 0)
        return [];
    try {
        await ensurePrivilege('hold mount sources for the job');
    }
    catch (e) {
        core_warning(`runbox: mount sources are not held for this job, so a job with another owner may chown them meanwhile: ${errorMessage(e)}`);
        return [];
    }
    return holdMountSources(mounts, owner, timeoutSec, { runId: ctx.runId, runner: ctx.runnerName, job: ctx.job });
}
async function runMain(src = actionInputs) {
    const report = new StepReport('runbox: main');
    await runStep(report, 'main was stopped by a signal (the job was cancelled); post tears down what main made', async () => {
        // Everything that can be wrong with the inputs fails here, before any change on disk.
        if (src === actionInputs) {
            const declared = declaredInputs();
            if (declared)
                checkUnknownInputs(declared);
        }
        const cfg = parseFoundationConfig(src);
        const reap = parseReapConfig(src);
        const storeCfg = parseStoreConfig(src);
        // Purge runs in post; its inputs (and the token) are checked here, before anything happens.
        parsePurgeConfig(src, storeCfg);
        if (storeCfg) {
            checkStoreHostPaths(storeCfg);
            warnAboutDbDir(storeCfg);
        }
        setRestoreLockTimeout(cfg.lockTimeoutSec);
        const warm = parseWarm(src);
        const ctx = jobContext();
        if (cfg.dirs.some((d) => d.scope === 'pr') && (cfg.baseDir === ctx.runnerTemp || isUnder(cfg.baseDir, ctx.runnerTemp)))
            core_warning(`runbox: base-dir ${cfg.baseDir} is inside RUNNER_TEMP, which the runner wipes after every job, so the pr dirs (${cfg.dirs
                .filter((d) => d.scope === 'pr')
                .map((d) => d.name)
                .join(', ')}) start cold every time. Set base-dir to one shared path such as /srv/runbox`);
        const layout = computeLayout(cfg.baseDir, ctx, cfg.id);
        const owner = await resolveOwner(cfg.ownerSpec);
        const runner = runnerIds();
        if (owner.uid !== runner.uid || owner.gid !== runner.gid)
            await ensurePrivilege(`give dirs and mount sources to owner ${owner.uid}:${owner.gid}`);
        const state = {
            version: 1,
            baseDir: cfg.baseDir,
            runDir: cfg.dirs.some((d) => d.scope === 'run') ? layout.runDir : '',
            dirs: [],
            owner,
            runnerOwner: runner,
            reclaim: cfg.reclaim,
            // A warm run leaves its dirs for the next run of the ref to clone; the janitor reaps them.
            keep: cfg.keep || warm !== 'off',
            release: { timeoutSec: cfg.releaseTimeoutSec, leftovers: cfg.leftovers }
        };
        // Registered before the first change so post tears down whatever main got to.
        saveRunState(state);
        // A restore killed with the store daemon stopped (here or by another job on this host).
        if (storeCfg)
            await restartAbandonedDaemon(storeCfg.daemon, report);
        for (const r of await reclaimPaths(cfg.reclaim, runner))
            if (r.healed > 0)
                report.add('reclaimed', `${r.path}: ${r.healed} entries given back to ${runner.uid}:${runner.gid}`);
        const ours = guardedDirs(layout, cfg.dirs);
        if (external_node_fs_default().existsSync(cfg.baseDir))
            await sweep(cfg.baseDir, reap, ours, report);
        // Locks first: nothing may reap or reuse a dir between its creation and its registration.
        const waits = [];
        const { locks, token } = await lockDirs(ours, ctx, runner, cfg.lockTimeoutSec, waits);
        for (const w of waits)
            report.add('waited', `${Math.round(w.waitedSec)} s for ${w.dir}${w.holder ? `, held by ${w.holder}` : ''}`);
        state.held = { token, locks: locks.map((l) => l.path) };
        saveRunState(state);
        // Until the keeper has them: a cancel lets go of them on purpose (see releaseMarked).
        const letGoOnCancel = registerCleanup(() => locks.forEach(releaseMarked));
        let keeperPid;
        try {
            // After the dir locks, in every job: a fixed order, so no two jobs wait for each other in a circle.
            locks.push(...(await holdMounts(cfg.mounts, owner, cfg.lockTimeoutSec, ctx)));
            state.dirs = await provisionDirs(layout, cfg.dirs, owner, runner);
            for (const spec of cfg.dirs) {
                const made = state.dirs.find((d) => d.name === spec.name);
                if (spec.envVar && made)
                    exportVariable(spec.envVar, made.path);
            }
            // Before the hand-over: a dir being warmed is still under this process's lock.
            await warmRunDirs(warm, layout, state.dirs, owner, report);
            keeperPid = await handOver(locks);
            if (keeperPid !== undefined) {
                state.keeper = { pid: keeperPid, locks: locks.map((l) => l.path) };
                const pid = keeperPid;
                // Cancelled later in main (e.g. mid-restore): free the dirs now, post still tears down.
                registerCleanup(() => releaseKeeper(pid).then(() => undefined));
            }
        }
        finally {
            letGoOnCancel();
            // Without a keeper (main failed before the hand-over) the job lets go of its dirs here.
            for (const l of locks)
                if (keeperPid === undefined)
                    releaseMarked(l);
                else
                    l.release();
        }
        saveRunState(state);
        for (const d of state.dirs)
            report.add(`dir ${d.name}`, `${d.path} (${d.scope}, owner ${owner.uid}:${owner.gid})`);
        for (const m of await provisionMounts(cfg.mounts, owner))
            report.add('mount source', `${m.path} ${m.created ? 'created' : `exists, ${m.chowned} entries chowned`} to ${owner.uid}:${owner.gid}`);
        setOutput('run-dir', state.runDir);
        setOutput('dirs', JSON.stringify(Object.fromEntries(state.dirs.map((d) => [d.name, d.path]))));
        if (storeCfg) {
            try {
                state.store = await restoreStoreAll(storeCfg, report, setStoreOutputs);
                if (!state.store.matchedKey && !storeCfg.lookupOnly)
                    warnAboutMissingStore(storeCfg, src);
            }
            catch (e) {
                // fail-on-cache-miss still leaves post the state it needs to save a snapshot.
                if (e instanceof StoreMissError)
                    state.store = e.state;
                throw e;
            }
            finally {
                saveRunState(state);
            }
        }
    });
}

;// CONCATENATED MODULE: ./src/dirs/teardown.ts
// Post's dir work: remove exactly what this run created, after checking each path is a real dir
// inside base-dir. Never the parent, never through a symlink.




/** Removes the run dir; the caller holds its lock (through the keeper, or `holdFd`). */
async function removeRunDir(runDir, baseDir, holdFd) {
    if (!external_node_fs_default().lstatSync(runDir, { throwIfNoEntry: false }))
        return undefined;
    assertOwnedSubdir(runDir, baseDir);
    const bytes = await treeBytes(runDir);
    await removeTree(runDir, holdFd === undefined ? {} : { holdFd });
    return { path: runDir, bytes };
}
/**
 * Without a keeper (main was cancelled and let go, or the keeper died) the run dir is free to a
 * janitor too, so post takes its lock before removing it: whoever holds the lock removes the dir,
 * once, and says so. A janitor holding it now is left to finish; a dir already gone was reaped.
 */
async function removeRunDirLocked(runDir, baseDir, lockPath, waitSec) {
    if (!external_node_fs_default().existsSync(lockPath) && !external_node_fs_default().lstatSync(runDir, { throwIfNoEntry: false }))
        return { gone: true };
    let lock;
    try {
        lock = await acquireLock(lockPath, { timeoutSec: waitSec });
    }
    catch (e) {
        if (e instanceof LockTimeoutError)
            return { leftTo: describeHolder(e.holder) };
        throw e;
    }
    try {
        const removed = await removeRunDir(runDir, baseDir, lock.fd);
        removeLockFile(lock);
        return removed ? { removed } : { gone: true };
    }
    finally {
        lock.release();
    }
}

;// CONCATENATED MODULE: ./src/steps/post-step.ts
// The post step (runs always, also after failure and cancel): give reclaim paths back to the
// runner user and remove this run's dirs.













async function runPost() {
    const report = new StepReport('runbox: post');
    let daemonProblem;
    await runStep(report, undefined, async () => {
        // First, and also when main got nowhere: main killed (SIGKILL, OOM) with the store daemon
        // stopped never started it again. Post gets the same inputs as main.
        try {
            const storeCfg = parseStoreConfig(actionInputs);
            if (storeCfg)
                await restartAbandonedDaemon(storeCfg.daemon, report);
        }
        catch (e) {
            // Inputs main refused already (and then it stopped no daemon): nothing to say twice.
            if (!(e instanceof InputError))
                daemonProblem = `store daemon: ${errorMessage(e)}`;
        }
        const state = loadRunState();
        if (!state) {
            report.add('nothing to tear down', 'main stopped before it provisioned anything (its error, if it failed, is in the main step)');
            if (daemonProblem)
                throw new Error(daemonProblem);
            return;
        }
        const problems = daemonProblem ? [daemonProblem] : [];
        const attempt = async (what, fn) => {
            try {
                await fn();
            }
            catch (e) {
                problems.push(`${what}: ${errorMessage(e)}`);
            }
        };
        // First: the snapshot is worth most, and it needs nothing that teardown removes.
        if (state.store) {
            const store = storeStateFrom(state.store);
            const saved = await saveStore(store, report);
            // Purge (off by default): superseded snapshots of this store, after the save, never failing the job.
            await purgeAfterSave(store, saved, report);
        }
        await attempt('reclaim', async () => {
            for (const r of await reclaimPaths(state.reclaim, state.runnerOwner))
                if (r.healed > 0)
                    report.add('reclaimed', `${r.path}: ${r.healed} entries given back to ${state.runnerOwner.uid}:${state.runnerOwner.gid}`);
        });
        // Before anything is removed or released: a container of this job may still be writing.
        let inUse = false;
        await attempt('leftovers', async () => {
            const guarded = [...(state.runDir ? [state.runDir] : []), ...state.dirs.filter((d) => d.scope === 'pr').map((d) => d.path)];
            const release = state.release ?? { timeoutSec: DEFAULT_RELEASE_TIMEOUT_SEC, leftovers: 'kill' };
            const { remaining } = await settleLeftovers(guarded, { timeoutSec: release.timeoutSec, mode: release.leftovers }, report);
            inUse = remaining.length > 0;
        });
        // Whether the keeper is still there decides who guards the run dir while post removes it.
        const keeperUp = keeperRunning(state.keeper?.pid);
        const locks = state.keeper?.locks ?? state.held?.locks ?? [];
        // No keeper to stop: what became of each lock, from the holder records (before teardown,
        // which removes the run dir's), taking none that is free: a second post, or a next run
        // about to take it, must not find it grabbed.
        let accounts = [];
        if (!keeperUp)
            await attempt('release locks', async () => void (accounts = await settleLocks(locks, state.held?.token)));
        if (state.keep || (inUse && state.runDir)) {
            if (state.runDir)
                report.add('kept', inUse ? `${state.runDir} (still in use; the janitor reaps it once nothing uses it)` : `${state.runDir} (keep: true, or warm: the next run of this ref may clone it)`);
        }
        else if (state.runDir) {
            await attempt('teardown', async () => {
                if (keeperUp) {
                    const removed = await removeRunDir(state.runDir, state.baseDir);
                    if (removed)
                        report.add('removed', `${removed.path} (${formatBytes(removed.bytes)})`);
                    return;
                }
                const t = await removeRunDirLocked(state.runDir, state.baseDir, lockPathOf(state.runDir), RUN_TEARDOWN_WAIT_SEC);
                if ('removed' in t)
                    report.add('removed', `${t.removed.path} (${formatBytes(t.removed.bytes)})`);
                // Gone and never made (main stopped before it provisioned any dir) is nothing to report.
                else if ('gone' in t) {
                    if (state.dirs.length > 0)
                        report.add('already removed', `${state.runDir} (reaped by a janitor after main let go of it)`);
                }
                else
                    report.add('left', `${state.runDir}: its lock is ${t.leftTo}; whoever holds it removes it`);
            });
        }
        // After teardown: the dirs stayed locked while they were being removed.
        await attempt('release locks', async () => {
            if (inUse) {
                if (keeperUp && (await keepLockedForLeftovers(state.keeper?.pid)) === 'lingering') {
                    report.add('locks kept', `${locks.length}, held until nothing uses the dirs`);
                    return;
                }
                core_warning('runbox post: the keeper had already exited, so the dirs are not locked while they are in use; the next run and the janitor still wait for their users');
            }
            const stopped = keeperUp ? await releaseKeeper(state.keeper?.pid) : 'gone';
            if (stopped === 'stopped')
                report.add('locks released', `${locks.length} (keeper stopped)`);
            else {
                const died = accounts.filter((a) => a.state === 'keeper-died');
                if (died.length > 0) {
                    const who = state.keeper ? `this job's keeper (pid ${state.keeper.pid}) had died before post (killed on its own?)` : 'main ended before it handed its locks to a keeper';
                    const msg = `${who}; the dirs stayed reserved for this job while its runner ran, and post released them now: ${died.map((a) => a.path).join(', ')}`;
                    core_warning(`runbox post: ${msg}`);
                    report.add('keeper died', msg);
                }
                const released = accounts.filter((a) => a.state === 'released').length;
                if (released > 0)
                    report.add('locks released', `${released} (already let go: main was cancelled, or an earlier post)`);
                for (const a of accounts)
                    if (a.state === 'taken')
                        report.add('lock moved on', `${a.path}: let go earlier, now ${a.by}`);
                    else if (a.state === 'unknown')
                        report.add('lock', `${a.path}: no holder record to read; nothing taken`);
            }
            if (state.runDir && !state.keep)
                await forgetRunLock(state.runDir);
        });
        // Main failed after saving its state but before it made anything: say so, rather than a
        // bare "Nothing to do." under a failed main.
        if (report.entries.length === 0 && state.dirs.length === 0 && !state.keeper && !state.store)
            report.add('nothing to tear down', 'main stopped before it provisioned any dir (its error, if it failed, is in the main step)');
        if (problems.length > 0)
            throw new Error(problems.join('; '));
    });
}

;// CONCATENATED MODULE: ./src/steps/restore-step.ts
// The `restore` sub-action (restore/action.yml): the store part of main alone, for composite
// actions and jobs that restore and save in steps of their own. Same inputs and code as main's
// restore; what it did goes to a record under RUNNER_TEMP for the `save` sub-action (store/record.ts),
// since the steps of a composite share no state. No dirs, locks or post.










/** The store inputs of a sub-action, checked before anything happens; `store` is required there. */
function subActionConfig(src, subAction) {
    if (src === actionInputs) {
        const declared = declaredInputs(process.argv[1], subAction);
        if (declared)
            checkUnknownInputs(declared);
    }
    const cfg = parseStoreConfig(src);
    if (!cfg)
        throw new InputError('store', `it is empty, and the ${subAction} sub-action is only about a store snapshot`, "Set 'store' to 'guix' or 'nix'");
    setRestoreLockTimeout(parseLockTimeout(src));
    checkStoreHostPaths(cfg);
    return cfg;
}
async function runRestore(src = actionInputs) {
    const report = new StepReport('runbox: restore');
    await runStep(report, 'the restore was stopped by a signal (the job was cancelled)', async () => {
        const cfg = subActionConfig(src, 'restore');
        warnAboutDbDir(cfg);
        await restartAbandonedDaemon(cfg.daemon, report);
        let state;
        try {
            state = await restoreStoreAll(cfg, report, setStoreOutputs);
            if (!state.matchedKey && !cfg.lookupOnly)
                warnAboutMissingStore(cfg, src);
        }
        catch (e) {
            // fail-on-cache-miss: a later save step still learns that nothing was restored.
            if (e instanceof StoreMissError)
                state = e.state;
            throw e;
        }
        finally {
            if (state)
                writeRestoreRecord(cfg, state);
        }
    });
}

;// CONCATENATED MODULE: ./src/steps/save-step.ts
// The `save` sub-action (save/action.yml): post's snapshot alone, at any point of a job (a
// mid-job save, or the end of a composite action). Under `key` (default: composed as main
// composes it); what a `restore` step of the same job did is read from its record under
// RUNNER_TEMP when it was about the same key (store/record.ts): an exact hit is not saved again,
// and a restored full snapshot is the base a delta may be saved over.









async function runSave(src = actionInputs) {
    const report = new StepReport('runbox: save');
    await runStep(report, 'the save was stopped by a signal (the job was cancelled)', async () => {
        const cfg = subActionConfig(src, 'save');
        await restartAbandonedDaemon(cfg.daemon, report);
        const keys = await resolveKeys(cfg);
        setOutput('cache-primary-key', keys.primary);
        const restored = readRestoreRecord(cfg);
        const same = restored?.primaryKey === keys.primary ? restored : undefined;
        if (restored && !same)
            info(`the restore step of this job was about ${restored.primaryKey}, not ${keys.primary}: saving as if nothing was restored`);
        if (same?.exactHit) {
            report.add('store snapshot', `not saved: ${keys.primary} is in the cache already (the restore step ${same.matchedKey ? 'restored it exactly' : 'found it'}), and the cache service keeps the first entry under a key`);
            return;
        }
        const state = initialState(cfg, keys);
        // The sub-action saves whenever it runs (as actions/cache/save does); `save` is main's input.
        state.save = 'always';
        if (same) {
            state.matchedKey = same.matchedKey;
            // A base list removed by an earlier save of this job (saveStore drops it) is no base: a full snapshot.
            if (same.base && external_node_fs_default().existsSync(same.base.file))
                state.base = same.base;
        }
        await saveStore(state, report);
    });
}

;// CONCATENATED MODULE: ./src/runbox.ts
// The one bundle of the action's four steps (dist/runbox.js): main and post, and the sub-actions'
// restore and save, share nearly all their code, so ncc builds it once instead of four times.
// dist/main.js, dist/post.js, dist/restore.js and dist/save.js, the files the runner runs, are
// stubs that call runStep (written by scripts/flatten-dist.mjs). The keeper is its own bundle.







const STEPS = { main: runMain, post: runPost, restore: runRestore, save: runSave };
/** Runs one step in this process: signal handling first, then the step's orchestration. */
async function runbox_runStep(step) {
    exitOnTermination(step, { stopWork: () => stopChildren(), asCleanup: asCleanup });
    try {
        await STEPS[step]();
    }
    finally {
        await stopLauncher();
    }
}

var __webpack_exports__runStep = __webpack_exports__.e;
export { __webpack_exports__runStep as runStep };
