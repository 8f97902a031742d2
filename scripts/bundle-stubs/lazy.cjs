// A module object that loads the real one on first use. imapflow (and mailparser) import
// libmime, iconv-lite and encoding-japanese at their top level, and libmime builds iconv-lite's
// GBK tables while loading: a large part of an empty mailbox's cold start went to character-set
// tables that only a message's headers or body ever need, and parsing their ~900 KB of code
// cost more than running it. These stand in for the three packages in the bundle
// (scripts/bundle.mjs, `alias`); the packages themselves are bundled apart, into
// dist/bin/charsets.cjs, required on the first property read.
//
// CommonJS, so that `require()` and `import x from` both get this object itself. It reports no
// own keys and no `__esModule`: esbuild's import helpers list those while loading a module,
// which would load the real one at once.
exports.lazyModule = function lazyModule(load) {
  let real;
  const target = () => (real ??= load());
  return new Proxy(
    {},
    {
      get(_stub, key) {
        if (key === '__esModule') return undefined;
        // A class read while a module loads (mailsplit: `require('libmime').Libmime`): a
        // stand-in that loads the real one when it is constructed or read from.
        if (real === undefined && /^[A-Z]/.test(String(key))) return lazyClass(() => target()[key]);
        const module = target();
        const value = module[key];
        // Methods use `this` (libmime's are those of an instance); classes are used with `new`.
        return typeof value === 'function' && !/^[A-Z]/.test(String(key)) ? value.bind(module) : value;
      },
      has: (_stub, key) => key in target(),
    },
  );
};

function lazyClass(load) {
  return new Proxy(function LazyClass() {}, {
    construct: (_stub, args) => Reflect.construct(load(), args),
    apply: (_stub, self, args) => Reflect.apply(load(), self, args),
    get: (_stub, key) => load()[key],
  });
}
