export * from './v1.ts';
export * from './subjects.ts';
