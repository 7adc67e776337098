//! Function calls and arguments: Go's argument count and type checks,
//! constants converted to the parameter's type, `and`/`or` short-circuits.

use super::super::ast::Arg;
use super::super::format;
use super::super::funcs;
use super::super::value::{IntType, Value};
use super::{At, Result, State};

impl<'a> State<'a> {
    pub(super) fn eval_function(
        &mut self,
        dot: &Value,
        name: &str,
        node: At<'a>,
        args: &'a [Arg],
        final_value: Option<Value>,
    ) -> Result<Value> {
        let Some(function) = funcs::lookup(name) else {
            return self.error(format!(
                "{} is not a defined function",
                format::quote(name, false)
            ));
        };
        let given = args.len() + usize::from(final_value.is_some());
        let fixed = function.params.len();
        if function.variadic.is_some() {
            if given < fixed {
                return self.error(format!(
                    "wrong number of args for {name}: want at least {fixed} got {}",
                    args.len()
                ));
            }
        } else if given != fixed {
            return self.error(format!(
                "wrong number of args for {name}: want {fixed} got {given}"
            ));
        }
        if function.builtin && (name == "and" || name == "or") {
            let mut value = Value::Missing;
            for arg in args {
                value = self.eval_arg(dot, Some("reflect.Value"), arg)?;
                if value.is_true() == (name == "or") {
                    return Ok(value);
                }
            }
            if let Some(final_value) = final_value {
                value = final_value;
            }
            return Ok(value);
        }
        let mut argv = Vec::with_capacity(given);
        for (i, arg) in args.iter().enumerate() {
            let typ = function
                .params
                .get(i)
                .copied()
                .or(function.variadic)
                .unwrap_or("interface {}");
            argv.push(self.eval_arg(dot, Some(typ), arg)?);
        }
        if let Some(final_value) = final_value {
            let typ = function
                .params
                .get(args.len())
                .copied()
                .or(function.variadic)
                .unwrap_or("interface {}");
            argv.push(self.validate_type(final_value, Some(typ))?);
        }
        if function.builtin && name == "call" {
            let callee = args.first().map(ToString::to_string).unwrap_or_default();
            self.at = node;
            return match argv.first() {
                Some(Value::Missing) | None => self.error("error calling call: call of nil"),
                Some(other) => self.error(format!(
                    "error calling call: non-function {callee} of type {}",
                    other.type_name()
                )),
            };
        }
        self.step()?;
        match (function.call)(&argv) {
            Ok(value) => {
                self.steps += weight(&value);
                self.step()?;
                Ok(value)
            }
            Err(error) => {
                self.at = node;
                self.error(format!("error calling {name}: {error}"))
            }
        }
    }

    pub(super) fn validate_type(&self, value: Value, typ: Option<&str>) -> Result<Value> {
        let Some(typ) = typ else {
            return Ok(value);
        };
        if let Value::Missing = value {
            if can_be_nil(typ) {
                return Ok(Value::Missing);
            }
            return self.error(format!("invalid value; expected {typ}"));
        }
        if typ == "reflect.Value" || value.assignable_to(typ) {
            return Ok(value);
        }
        self.error(format!(
            "wrong type for value; expected {typ}; got {}",
            value.type_name()
        ))
    }

    pub(super) fn eval_arg(
        &mut self,
        dot: &Value,
        typ: Option<&str>,
        arg: &'a Arg,
    ) -> Result<Value> {
        self.at = At::Arg(arg);
        let value = match arg {
            Arg::Dot { .. } => dot.clone(),
            Arg::Nil { .. } => {
                return match typ {
                    Some(t) if can_be_nil(t) => Ok(Value::Missing),
                    Some(t) => self.error(format!("cannot assign nil to {t}")),
                    None => Ok(Value::Missing),
                };
            }
            Arg::Field { idents, .. } => {
                let value = self.eval_field_chain(
                    dot,
                    dot.clone(),
                    idents,
                    std::slice::from_ref(arg),
                    None,
                )?;
                self.at = At::Arg(arg);
                value
            }
            Arg::Variable { .. } => self.eval_variable(dot, arg, &[], None)?,
            Arg::Pipe(pipe) => self.eval_pipeline(dot, pipe)?,
            Arg::Identifier { name, .. } => {
                self.eval_function(dot, name, At::Arg(arg), &[], None)?
            }
            Arg::Chain { .. } => self.eval_chain(dot, arg, &[], None)?,
            Arg::Bool { value, .. } => {
                return match typ {
                    Some("bool" | "interface {}" | "reflect.Value") | None => {
                        Ok(Value::Bool(*value))
                    }
                    Some(t) => self.constant_error(t, arg),
                };
            }
            Arg::String { text, .. } => {
                return match typ {
                    Some("string" | "interface {}" | "reflect.Value") | None => {
                        Ok(Value::string(text.as_str()))
                    }
                    Some(t) => self.constant_error(t, arg),
                };
            }
            Arg::Number { number, .. } => {
                return match typ {
                    Some("interface {}" | "reflect.Value") | None => self.ideal_constant(number),
                    Some("int") if number.int.is_some() => {
                        Ok(Value::Int(number.int.unwrap_or(0), IntType::Int))
                    }
                    Some("int64") if number.int.is_some() => {
                        Ok(Value::Int(number.int.unwrap_or(0), IntType::Int64))
                    }
                    Some("float64") if number.float.is_some() => {
                        Ok(Value::Float(number.float.unwrap_or(0.0)))
                    }
                    Some(t) => self.constant_error(t, arg),
                };
            }
        };
        self.validate_type(value, typ)
    }

    fn constant_error<T>(&self, typ: &str, arg: &Arg) -> Result<T> {
        let expected = match typ {
            "bool" => "bool",
            "string" => "string",
            "int" | "int64" => "integer",
            "float64" => "float",
            _ => return self.error(format!("can't handle {arg} for arg of type {typ}")),
        };
        self.error(format!("expected {expected}; found {arg}"))
    }
}

/// What a function's result costs in steps: its size.
fn weight(value: &Value) -> u64 {
    match value {
        Value::String(s) => s.len() as u64 / 64,
        Value::List(list) => list.items.len() as u64,
        Value::Map(map) => map.len() as u64,
        _ => 0,
    }
}

fn can_be_nil(typ: &str) -> bool {
    typ == "interface {}"
        || typ == "reflect.Value"
        || typ.starts_with("[]")
        || typ.starts_with("map[")
        || typ.starts_with('*')
}
