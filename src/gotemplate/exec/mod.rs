//! The executor: walks a parsed template over a [`Value`], as Go's
//! `text/template` does: variables and their scopes, `if`/`with`/`range`
//! (maps in key order, `break`/`continue`, `else`), `template`, field, map
//! and method access, function calls with Go's argument checks, and errors
//! worded as Go words them (`executing "t" at <.X>: …`).

use std::collections::BTreeMap;

use super::ast::{Arg, Branch, BranchKind, Command, List, Node, Pipe};
use super::format;
use super::funcs::{self, Function};
use super::value::Value;

mod call;

/// How deep `{{template}}` calls may nest (Go allows 100000 on stacks that
/// grow; here execution recurses on a fixed thread stack).
pub const MAX_TEMPLATE_DEPTH: usize = 200;

/// The largest output a template may produce, in bytes.
pub const MAX_OUTPUT: usize = 1 << 20;

/// The largest string one function call may produce, in bytes.
pub const MAX_VALUE: usize = 4 << 20;

/// The most nodes and function calls one execution may evaluate (a function's
/// result also counts one step per 64 bytes or element it holds).
pub const MAX_STEPS: u64 = 10_000_000;

/// Where execution is, for error messages.
#[derive(Clone, Copy)]
enum At<'a> {
    None,
    Arg(&'a Arg),
    Command(&'a Command),
    Pipe(&'a Pipe),
    Node(&'a Node),
}

impl At<'_> {
    fn position_and_text(&self) -> Option<(usize, String)> {
        match self {
            At::None => None,
            At::Arg(arg) => Some((arg.pos(), arg.to_string())),
            At::Command(cmd) => Some((cmd.pos, cmd.to_string())),
            At::Pipe(pipe) => Some((pipe.pos, pipe.to_string())),
            At::Node(node) => match node {
                Node::Action { pos, .. } | Node::Template { pos, .. } => {
                    Some((*pos, node.to_string()))
                }
                Node::Branch(branch) => Some((branch.pipe.pos, node.to_string())),
                _ => None,
            },
        }
    }
}

/// What a walk tells its caller.
enum Flow {
    Normal,
    Break,
    Continue,
}

type Result<T> = std::result::Result<T, String>;

/// One execution.
pub struct State<'a> {
    parse_name: &'a str,
    text: &'a str,
    trees: &'a BTreeMap<String, List>,
    template: &'a str,
    vars: Vec<(String, Value)>,
    depth: usize,
    at: At<'a>,
    out: String,
    steps: u64,
}

/// Executes template `name` of `trees` (parsed from `text` as `parse_name`) with `dot`.
pub fn execute(
    parse_name: &str,
    text: &str,
    trees: &BTreeMap<String, List>,
    name: &str,
    dot: &Value,
) -> Result<String> {
    let mut state = State {
        parse_name,
        text,
        trees,
        template: name,
        vars: vec![("$".into(), dot.clone())],
        depth: 0,
        at: At::None,
        out: String::new(),
        steps: 0,
    };
    let Some(list) = trees.get(name) else {
        return Err(format!("template: {name}: no such template"));
    };
    state.walk_list(dot, list)?;
    Ok(state.out)
}

impl<'a> State<'a> {
    fn error<T>(&self, message: impl std::fmt::Display) -> Result<T> {
        match self.at.position_and_text() {
            None => Err(format!("template: {}: {message}", self.template)),
            Some((pos, context)) => {
                let before = &self.text[..pos.min(self.text.len())];
                let line = 1 + before.matches('\n').count();
                let column = match before.rfind('\n') {
                    Some(newline) => pos - (newline + 1),
                    None => pos,
                };
                Err(format!(
                    "template: {}:{line}:{column}: executing {} at <{context}>: {message}",
                    self.parse_name,
                    format::quote(self.template, false)
                ))
            }
        }
    }

    fn step(&mut self) -> Result<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return self.error(format!("template execution exceeded {MAX_STEPS} steps"));
        }
        Ok(())
    }

    fn write(&mut self, text: &str) -> Result<()> {
        if self.out.len() + text.len() > MAX_OUTPUT {
            return self.error(format!("output exceeds {MAX_OUTPUT} bytes"));
        }
        self.out.push_str(text);
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value, list: &'a List) -> Result<Flow> {
        for node in list {
            match self.walk(dot, node)? {
                Flow::Normal => {}
                flow => return Ok(flow),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, node: &'a Node) -> Result<Flow> {
        self.step()?;
        self.at = At::Node(node);
        match node {
            Node::Text(text) => self.write(text)?,
            Node::Action { pipe, .. } => {
                let value = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.at = At::Node(node);
                    let text = match value {
                        Value::Missing => "<no value>".to_string(),
                        value => format::print_value(&value),
                    };
                    self.write(&text)?;
                }
            }
            Node::Branch(branch) if branch.kind == BranchKind::Range => {
                return self.walk_range(dot, node, branch);
            }
            Node::Branch(branch) => {
                let mark = self.vars.len();
                let value = self.eval_pipeline(dot, &branch.pipe)?;
                let flow = if value.is_true() {
                    let dot = if branch.kind == BranchKind::With {
                        &value
                    } else {
                        dot
                    };
                    self.walk_list(dot, &branch.list)
                } else if let Some(else_list) = &branch.else_list {
                    self.walk_list(dot, else_list)
                } else {
                    Ok(Flow::Normal)
                };
                self.vars.truncate(mark);
                return flow;
            }
            Node::Template { name, pipe, .. } => {
                let Some(tree) = self.trees.get(name) else {
                    return self.error(format!(
                        "template {} not defined",
                        format::quote(name, false)
                    ));
                };
                if self.depth >= MAX_TEMPLATE_DEPTH {
                    return self.error(format!(
                        "exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})"
                    ));
                }
                let new_dot = match pipe {
                    Some(pipe) => self.eval_pipeline(dot, pipe)?,
                    None => Value::Missing,
                };
                let saved_vars =
                    std::mem::replace(&mut self.vars, vec![("$".into(), new_dot.clone())]);
                let saved_template = std::mem::replace(&mut self.template, name);
                self.depth += 1;
                let result = self.walk_list(&new_dot, tree);
                self.depth -= 1;
                self.template = saved_template;
                self.vars = saved_vars;
                result?;
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn walk_range(&mut self, dot: &Value, node: &'a Node, range: &'a Branch) -> Result<Flow> {
        self.at = At::Node(node);
        let mark = self.vars.len();
        let value = self.eval_pipeline(dot, &range.pipe)?;
        let inner = self.vars.len();
        let items: Vec<(Value, Value)> = match &value {
            Value::Int(n, kind) => {
                if range.pipe.decl.len() > 1 {
                    return self.error(format!(
                        "can't use {} to iterate over more than one variable",
                        format::print_value(&value)
                    ));
                }
                (0..(*n).max(0))
                    .map(|i| (Value::Missing, Value::Int(i, *kind)))
                    .collect()
            }
            Value::List(list) => list
                .items
                .iter()
                .enumerate()
                .map(|(i, item)| (Value::int(i as i64), item.clone()))
                .collect(),
            Value::Map(map) => map.entries().to_vec(),
            Value::Missing => Vec::new(),
            other => {
                return self.error(format!(
                    "range can't iterate over {}",
                    format::print_value(other)
                ));
            }
        };
        let mut flow = Flow::Normal;
        for (index, element) in &items {
            let decl = &range.pipe.decl;
            if let Some(first) = decl.first() {
                if range.pipe.is_assign {
                    let value = if decl.len() > 1 { index } else { element };
                    self.set_var(&first.name, value.clone())?;
                } else if let Some(slot) = self.vars.get_mut(inner - 1) {
                    slot.1 = element.clone();
                }
            }
            if let Some(second) = decl.get(1) {
                if range.pipe.is_assign {
                    self.set_var(&second.name, element.clone())?;
                } else if let Some(slot) = self.vars.get_mut(inner - 2) {
                    slot.1 = index.clone();
                }
            }
            let result = self.walk_list(element, &range.list);
            self.vars.truncate(inner);
            match result? {
                Flow::Break => break,
                Flow::Normal | Flow::Continue => {}
            }
        }
        if items.is_empty()
            && let Some(else_list) = &range.else_list
        {
            flow = self.walk_list(dot, else_list)?;
        }
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn set_var(&mut self, name: &str, value: Value) -> Result<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => self.error(format!("undefined variable: {name}")),
        }
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'a Pipe) -> Result<Value> {
        self.at = At::Pipe(pipe);
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or(Value::Missing);
        for variable in &pipe.decl {
            if pipe.is_assign {
                self.set_var(&variable.name, value.clone())?;
            } else {
                self.vars.push((variable.name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], final_value: &Option<Value>) -> Result<()> {
        if args.len() > 1 || final_value.is_some() {
            return self.error(format!("can't give argument to non-function {}", args[0]));
        }
        Ok(())
    }

    fn eval_command(
        &mut self,
        dot: &Value,
        cmd: &'a Command,
        final_value: Option<Value>,
    ) -> Result<Value> {
        self.step()?;
        let first = &cmd.args[0];
        match first {
            Arg::Field { idents, .. } => {
                self.at = At::Arg(first);
                return self.eval_field_chain(dot, dot.clone(), idents, &cmd.args, final_value);
            }
            Arg::Chain { .. } => return self.eval_chain(dot, first, &cmd.args, final_value),
            Arg::Identifier { name, .. } => {
                self.at = At::Arg(first);
                return self.eval_function(
                    dot,
                    name,
                    At::Command(cmd),
                    &cmd.args[1..],
                    final_value,
                );
            }
            Arg::Pipe(pipe) => {
                self.not_a_function(&cmd.args, &final_value)?;
                return self.eval_pipeline(dot, pipe);
            }
            Arg::Variable { .. } => return self.eval_variable(dot, first, &cmd.args, final_value),
            _ => {}
        }
        self.at = At::Arg(first);
        self.not_a_function(&cmd.args, &final_value)?;
        match first {
            Arg::Bool { value, .. } => Ok(Value::Bool(*value)),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => self.error("nil is not a command"),
            Arg::Number { number, .. } => self.ideal_constant(number),
            Arg::String { text, .. } => Ok(Value::string(text.as_str())),
            _ => self.error(format!(
                "can't evaluate command {}",
                format::quote(&first.to_string(), false)
            )),
        }
    }

    fn ideal_constant(&self, number: &super::ast::Number) -> Result<Value> {
        let text = &number.text;
        if number.complex {
            return self.error(format!("complex constant {text} is not supported"));
        }
        let hex_int = text.len() > 2
            && (text.starts_with("0x") || text.starts_with("0X"))
            && !text.contains(['p', 'P']);
        if let Some(f) = number.float
            && !hex_int
            && !text.starts_with('\'')
            && text.contains(['.', 'e', 'E', 'p', 'P'])
        {
            return Ok(Value::Float(f));
        }
        if let Some(i) = number.int {
            return Ok(Value::int(i));
        }
        if number.uint.is_some() {
            return self.error(format!("{text} overflows int"));
        }
        Ok(Value::Missing)
    }

    fn eval_chain(
        &mut self,
        dot: &Value,
        chain: &'a Arg,
        args: &'a [Arg],
        final_value: Option<Value>,
    ) -> Result<Value> {
        self.at = At::Arg(chain);
        let Arg::Chain { node, fields, .. } = chain else {
            return self.error("internal error: not a chain");
        };
        if let Arg::Nil { .. } = **node {
            return self.error(format!("indirection through explicit nil in {chain}"));
        }
        let receiver = self.eval_arg(dot, None, node)?;
        self.eval_field_chain(dot, receiver, fields, args, final_value)
    }

    fn eval_variable(
        &mut self,
        dot: &Value,
        variable: &'a Arg,
        args: &'a [Arg],
        final_value: Option<Value>,
    ) -> Result<Value> {
        self.at = At::Arg(variable);
        let Arg::Variable { idents, .. } = variable else {
            return self.error("internal error: not a variable");
        };
        let Some(value) = self
            .vars
            .iter()
            .rev()
            .find(|(n, _)| *n == idents[0])
            .map(|(_, v)| v.clone())
        else {
            return self.error(format!("undefined variable: {}", idents[0]));
        };
        if idents.len() == 1 {
            self.not_a_function(args, &final_value)?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, &idents[1..], args, final_value)
    }

    fn eval_field_chain(
        &mut self,
        dot: &Value,
        mut receiver: Value,
        idents: &[String],
        args: &'a [Arg],
        final_value: Option<Value>,
    ) -> Result<Value> {
        let last = idents.len().saturating_sub(1);
        for ident in &idents[..last] {
            receiver = self.eval_field(dot, ident, &[], None, &receiver)?;
        }
        match idents.get(last) {
            Some(ident) => self.eval_field(dot, ident, args, final_value, &receiver),
            None => Ok(receiver),
        }
    }

    fn eval_field(
        &mut self,
        _dot: &Value,
        name: &str,
        args: &'a [Arg],
        final_value: Option<Value>,
        receiver: &Value,
    ) -> Result<Value> {
        if let Value::Missing = receiver {
            return Ok(Value::Missing);
        }
        if let Some(result) = receiver.method(name) {
            let given = args.len().saturating_sub(1) + usize::from(final_value.is_some());
            if given != 0 {
                return self.error(format!(
                    "wrong number of args for {name}: want 0 got {given}"
                ));
            }
            return Ok(result.clone());
        }
        let has_args = args.len() > 1 || final_value.is_some();
        match receiver {
            Value::Struct(_) => {
                if let Some(field) = receiver.struct_field(name) {
                    if has_args {
                        return self.error(format!(
                            "{name} has arguments but cannot be invoked as function"
                        ));
                    }
                    return Ok(field.clone());
                }
            }
            Value::Map(map) if &*map.key_type == "string" || &*map.key_type == "interface {}" => {
                if has_args {
                    return self.error(format!("{name} is not a method but has arguments"));
                }
                return Ok(map.get_str(name).cloned().unwrap_or(Value::Missing));
            }
            _ => {}
        }
        self.error(format!(
            "can't evaluate field {name} in type {}",
            receiver.type_name()
        ))
    }
}

/// Whether `name` is a function templates may call (a builtin or a Sprig function).
pub fn has_function(name: &str) -> bool {
    funcs::lookup(name).is_some()
}

/// A function's description, for tests.
pub fn function(name: &str) -> Option<Function> {
    funcs::lookup(name)
}
