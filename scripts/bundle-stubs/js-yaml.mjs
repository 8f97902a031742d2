// In the bundle, instead of js-yaml: cosmiconfig's default YAML loader requires it, and
// mailpoll replaces that loader with its own on the yaml package (src/config/yaml.ts, for
// its alias limits). If a default YAML loader is ever used again, this says so.
export function load() {
  throw new Error('mailpoll bundle: js-yaml is not included; load YAML with src/config/yaml.ts');
}
export default { load };
