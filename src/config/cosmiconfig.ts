/**
 * cosmiconfig and the data-file loaders, loaded lazily by load.ts through this module. A
 * static import of a CommonJS package gets its named exports everywhere (Node, tsx, the
 * esbuild bundle); a dynamic `import('cosmiconfig')` would get only a default export in the
 * bundle's chunk.
 */
export { cosmiconfig, defaultLoaders } from 'cosmiconfig';
export { parseYaml } from './yaml.js';
