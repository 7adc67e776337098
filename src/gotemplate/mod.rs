//! A Go `text/template` interpreter with Sprig's hermetic functions, for
//! Flux's commit message templates. Pure: text and values in, text out.
//!
//! Data flows: [`Template::parse`] lexes ([`lex`]) and parses ([`parse`])
//! the text into trees ([`ast`]), checking every function name against Go's
//! builtins and Sprig's hermetic set ([`funcs`], [`sprig`]); then
//! [`Template::execute`] walks the main tree over a [`Value`] ([`exec`]),
//! printing values with Go's `fmt` rules ([`format`]).
//!
//! What is supported is what Flux users write: actions and pipelines,
//! variables (`:=`, `=`), `if`/`else if`/`else`, `with`/`else with`, `range`
//! over slices, maps (in Go's sorted key order, struct keys included) and
//! integers with `break`/`continue`/`else`, `define`/`template`/`block`,
//! comments, `{{-`/`-}}` trimming, fields, map keys and methods, Go's
//! builtins, and Sprig's hermetic functions (see [`sprig`] for the few that
//! fail when called). Messages of parse and execution errors are Go's.
//!
//! Limits, because templates come from configuration: `template` calls nest
//! at most [`exec::MAX_TEMPLATE_DEPTH`] deep (Go: 100000), blocks and
//! parentheses [`parse::MAX_NESTING`] deep; the output is at most
//! [`exec::MAX_OUTPUT`] bytes, one function's result at most
//! [`exec::MAX_VALUE`] bytes, and one execution evaluates at most
//! [`exec::MAX_STEPS`] steps (nodes, calls, and the size of each call's
//! result). Exceeding a limit is an error.
//!
//! Known differences from Go: no complex numbers, no channels, functions or
//! pointers in data; Sprig's `set`, `unset`, `merge` and `mergeOverwrite`
//! return a changed copy instead of changing the dict in place; regular
//! expressions are the `regex` crate's (RE2 syntax, like Go's) and their
//! error messages differ; `keys` and `values` list a dict in key order
//! (Go: random order).

pub mod ast;
pub mod exec;
pub mod format;
pub mod funcs;
mod hash;
pub mod lex;
pub mod parse;
pub mod sprig;
mod sprig_data;
mod sprig_dict;
mod sprig_encoding;
mod sprig_text;
pub mod value;

use std::collections::BTreeMap;

pub use value::{Field, IntType, List as ListValue, Map, Struct, Value};

/// Why a template could not be parsed or executed. The message is Go's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template text is not valid (`template: NAME:LINE: …`).
    #[error("{message}")]
    Parse {
        /// Go's message.
        message: String,
    },
    /// Executing the template failed (`template: NAME:LINE:COL: executing …`).
    #[error("{message}")]
    Execute {
        /// Go's message.
        message: String,
    },
}

/// A parsed template and the templates it defines.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    text: String,
    trees: BTreeMap<String, ast::List>,
}

impl Template {
    /// Parses `text` as the template called `name` (the name appears in errors).
    pub fn parse(name: &str, text: &str) -> Result<Self, TemplateError> {
        let trees = parse::parse(name, text, &exec::has_function)
            .map_err(|message| TemplateError::Parse { message })?;
        Ok(Self {
            name: name.to_string(),
            text: text.to_string(),
            trees,
        })
    }

    /// Executes the template with `data` as dot.
    pub fn execute(&self, data: &Value) -> Result<String, TemplateError> {
        exec::execute(&self.name, &self.text, &self.trees, &self.name, data)
            .map_err(|message| TemplateError::Execute { message })
    }
}

#[cfg(test)]
mod tests;
