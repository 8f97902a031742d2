// The character-set libraries, bundled on their own into dist/bin/charsets.cjs and required on
// first use by the stand-ins the main bundle has instead (lazy-*.cjs): see lazy.cjs.
module.exports = {
  libmime: require('libmime'),
  iconv: require('iconv-lite'),
  japanese: require('encoding-japanese'),
};
