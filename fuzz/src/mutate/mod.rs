//! Generators of near-valid inputs: edits of a real text ([`text`]: spans deleted, doubled or
//! replaced, YAML and l7mp tokens inserted, lines re-indented or borrowed from another seed,
//! deep nesting and alias chains), and JSON values ([`value`]) built from the words the
//! parsers look for, or a real value with some of its nodes replaced.

pub mod text;
pub mod value;

pub use text::{Edit, Mutated, Nesting, TOKENS, apply, edit, mutated, nesting, token};
pub use value::{ValueEdit, WORDS, edit_value, edited_value, json_value};
