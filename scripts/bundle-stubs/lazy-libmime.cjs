// libmime, loaded on first use from dist/bin/charsets.cjs: see lazy.cjs.
module.exports = require('./lazy.cjs').lazyModule(() => require('./charsets.cjs').libmime);
