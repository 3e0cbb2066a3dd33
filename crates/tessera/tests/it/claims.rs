//! Claims end to end, beyond the standard ones: claim mappings and custom-claims scripts,
//! through authorize → token → refresh → userinfo and introspection.

mod mappings;
mod scripts;
