//! Template data: a dynamic value that carries the Go type it stands for.
//!
//! Go's template engine works on `reflect.Value`s; what a template prints,
//! which function accepts which argument and the wording of errors all depend
//! on the Go type. [`Value`] keeps exactly that much of the type: the kind of
//! integer, the type name of slices, maps and structs (`[]string`,
//! `map[string]string`, `update.Change`), each struct's fields in declaration
//! order (with embedded fields promoted, as Go does), its zero-argument
//! methods (computed up front: all data here is immutable) and its `String()`
//! result when the Go type implements `fmt.Stringer`.

use std::cmp::Ordering;
use std::sync::Arc;

/// The Go type of an integer value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntType {
    /// `int`: integer literals, `len`, most Go functions.
    Int,
    /// `int64`: Sprig's arithmetic.
    Int64,
}

/// One value a template works on.
#[derive(Debug, Clone)]
pub enum Value {
    /// No value: a missing map entry or a nil interface (`reflect.Value{}`).
    /// An action prints it as `<no value>`, `fmt` as `<nil>`.
    Missing,
    /// A `bool`.
    Bool(bool),
    /// An `int` or `int64`.
    Int(i64, IntType),
    /// A `float64`.
    Float(f64),
    /// A `string`.
    String(Arc<str>),
    /// A slice.
    List(Arc<List>),
    /// A map.
    Map(Arc<Map>),
    /// A struct (or an interface holding one).
    Struct(Arc<Struct>),
}

/// A Go slice.
#[derive(Debug, Clone)]
pub struct List {
    /// Its Go type, e.g. `[]string` or `[]interface {}`.
    pub type_name: Arc<str>,
    /// Its elements.
    pub items: Vec<Value>,
}

/// A Go map, its entries sorted in the order Go's `range` and `fmt` visit them.
#[derive(Debug, Clone)]
pub struct Map {
    /// Its Go type, e.g. `map[string]string`.
    pub type_name: Arc<str>,
    /// The Go type of its keys.
    pub key_type: Arc<str>,
    /// The zero value of its element type (what `index` gives for a missing key).
    pub zero: Value,
    /// Its entries, sorted by key.
    entries: Vec<(Value, Value)>,
}

/// A Go struct value.
#[derive(Debug, Clone)]
pub struct Struct {
    /// Its Go type, e.g. `update.Change`.
    pub type_name: Arc<str>,
    /// Its fields, in declaration order.
    pub fields: Vec<Field>,
    /// Its methods that take no argument, with their results.
    pub methods: Vec<(Arc<str>, Value)>,
    /// What its `String()` method returns, when it has one.
    pub string: Option<Arc<str>>,
}

/// A struct field.
#[derive(Debug, Clone)]
pub struct Field {
    /// The field name.
    pub name: Arc<str>,
    /// Its value.
    pub value: Value,
    /// Whether it is embedded (its fields and methods are promoted).
    pub embedded: bool,
}

impl Value {
    /// A string value.
    pub fn string(text: impl Into<Arc<str>>) -> Self {
        Value::String(text.into())
    }

    /// An `int` value.
    pub fn int(value: i64) -> Self {
        Value::Int(value, IntType::Int)
    }

    /// An `int64` value.
    pub fn int64(value: i64) -> Self {
        Value::Int(value, IntType::Int64)
    }

    /// A slice of type `type_name`.
    pub fn list(type_name: impl Into<Arc<str>>, items: Vec<Value>) -> Self {
        Value::List(Arc::new(List {
            type_name: type_name.into(),
            items,
        }))
    }

    /// A `[]string`.
    pub fn string_list<I: IntoIterator<Item = S>, S: Into<Arc<str>>>(items: I) -> Self {
        Value::list(
            "[]string",
            items.into_iter().map(|s| Value::String(s.into())).collect(),
        )
    }

    /// A `[]interface {}`.
    pub fn any_list(items: Vec<Value>) -> Self {
        Value::list("[]interface {}", items)
    }

    /// A `map[string]interface {}`.
    pub fn dict<I: IntoIterator<Item = (S, Value)>, S: Into<Arc<str>>>(entries: I) -> Self {
        Value::Map(Arc::new(Map::new(
            "map[string]interface {}",
            "string",
            Value::Missing,
            entries
                .into_iter()
                .map(|(k, v)| (Value::String(k.into()), v))
                .collect(),
        )))
    }

    /// The Go type's name, as `%T` and error messages print it.
    pub fn type_name(&self) -> Arc<str> {
        match self {
            Value::Missing => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_, IntType::Int) => "int".into(),
            Value::Int(_, IntType::Int64) => "int64".into(),
            Value::Float(_) => "float64".into(),
            Value::String(_) => "string".into(),
            Value::List(list) => list.type_name.clone(),
            Value::Map(map) => map.type_name.clone(),
            Value::Struct(object) => object.type_name.clone(),
        }
    }

    /// The Go kind (`reflect.Kind`) name, as Sprig's `kindOf` gives it.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Missing => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_, IntType::Int) => "int",
            Value::Int(_, IntType::Int64) => "int64",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Struct(_) => "struct",
        }
    }

    /// Go's truth: false for the zero value of its type, empty slices,
    /// maps and strings, and no value; structs are always true.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Missing => false,
            Value::Bool(b) => *b,
            Value::Int(i, _) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(list) => !list.items.is_empty(),
            Value::Map(map) => !map.entries.is_empty(),
            Value::Struct(_) => true,
        }
    }

    /// Whether a value of this type can be passed where `param` is expected
    /// (Go's assignability, for the types templates meet).
    pub fn assignable_to(&self, param: &str) -> bool {
        param == "interface {}" || *self.type_name() == *param
    }

    /// The string inside a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A field or promoted field of a struct (Go's `FieldByName`, breadth first).
    pub fn struct_field(&self, name: &str) -> Option<&Value> {
        let Value::Struct(object) = self else {
            return None;
        };
        let mut level: Vec<&Struct> = vec![object];
        while !level.is_empty() {
            let mut next = Vec::new();
            for object in &level {
                for field in &object.fields {
                    if &*field.name == name {
                        return Some(&field.value);
                    }
                    if field.embedded
                        && let Value::Struct(inner) = &field.value
                    {
                        next.push(&**inner);
                    }
                }
            }
            level = next;
        }
        None
    }

    /// A method of a struct (or one promoted from an embedded struct).
    pub fn method(&self, name: &str) -> Option<&Value> {
        let Value::Struct(object) = self else {
            return None;
        };
        if let Some((_, value)) = object.methods.iter().find(|(n, _)| &**n == name) {
            return Some(value);
        }
        object
            .fields
            .iter()
            .filter(|f| f.embedded)
            .find_map(|f| f.value.method(name))
    }
}

impl Map {
    /// A map of type `type_name` with `key_type` keys; `zero` is its element type's zero value.
    /// The entries are sorted as Go sorts map keys; a later duplicate key replaces an earlier one.
    pub fn new(
        type_name: impl Into<Arc<str>>,
        key_type: impl Into<Arc<str>>,
        zero: Value,
        entries: Vec<(Value, Value)>,
    ) -> Self {
        let mut sorted: Vec<(Value, Value)> = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            match sorted.binary_search_by(|(k, _)| compare_keys(k, &key)) {
                Ok(at) => sorted[at].1 = value,
                Err(at) => sorted.insert(at, (key, value)),
            }
        }
        Self {
            type_name: type_name.into(),
            key_type: key_type.into(),
            zero,
            entries: sorted,
        }
    }

    /// The entries in key order.
    pub fn entries(&self) -> &[(Value, Value)] {
        &self.entries
    }

    /// The value for a key.
    pub fn get(&self, key: &Value) -> Option<&Value> {
        self.entries
            .binary_search_by(|(k, _)| compare_keys(k, key))
            .ok()
            .map(|at| &self.entries[at].1)
    }

    /// The value for a string key.
    pub fn get_str(&self, key: &str) -> Option<&Value> {
        self.get(&Value::string(key))
    }

    /// How many entries it has.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Struct {
    /// A struct of type `type_name` with `fields` (none embedded) and no methods.
    pub fn plain(type_name: &str, fields: Vec<(&str, Value)>) -> Self {
        Self {
            type_name: type_name.into(),
            fields: fields
                .into_iter()
                .map(|(name, value)| Field {
                    name: name.into(),
                    value,
                    embedded: false,
                })
                .collect(),
            methods: Vec::new(),
            string: None,
        }
    }
}

/// Go's order of map keys (`internal/fmtsort`): numbers by value, strings
/// bytewise, `false` before `true`, structs field by field; keys of
/// different kinds by kind.
pub fn compare_keys(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Int(x, _), Value::Int(y, _)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Struct(x), Value::Struct(y)) => {
            for (fx, fy) in x.fields.iter().zip(&y.fields) {
                match compare_keys(&fx.value, &fy.value) {
                    Ordering::Equal => {}
                    other => return other,
                }
            }
            Ordering::Equal
        }
        _ => kind_rank(a).cmp(&kind_rank(b)),
    }
}

fn kind_rank(value: &Value) -> u8 {
    match value {
        Value::Missing => 0,
        Value::Bool(_) => 1,
        Value::Int(..) => 2,
        Value::Float(_) => 3,
        Value::String(_) => 4,
        Value::List(_) => 5,
        Value::Map(_) => 6,
        Value::Struct(_) => 7,
    }
}

/// Go's `==` on two values of the same comparable type (used by `has`,
/// `uniq`, `without` and map lookups with struct keys).
pub fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Missing, Value::Missing) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x, tx), Value::Int(y, ty)) => x == y && tx == ty,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.type_name == y.type_name
                && x.items.len() == y.items.len()
                && x.items.iter().zip(&y.items).all(|(a, b)| deep_equal(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.type_name == y.type_name
                && x.entries.len() == y.entries.len()
                && x.entries
                    .iter()
                    .zip(&y.entries)
                    .all(|((ka, va), (kb, vb))| deep_equal(ka, kb) && deep_equal(va, vb))
        }
        (Value::Struct(x), Value::Struct(y)) => {
            x.type_name == y.type_name
                && x.fields
                    .iter()
                    .zip(&y.fields)
                    .all(|(a, b)| deep_equal(&a.value, &b.value))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_sort_their_keys_like_go() {
        let map = Map::new(
            "map[string]int",
            "string",
            Value::int(0),
            vec![
                (Value::string("b"), Value::int(2)),
                (Value::string("B"), Value::int(1)),
                (Value::string("a"), Value::int(3)),
                (Value::string("b"), Value::int(4)),
            ],
        );
        let keys: Vec<_> = map
            .entries()
            .iter()
            .map(|(k, _)| k.as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(keys, ["B", "a", "b"]);
        assert!(matches!(map.get_str("b"), Some(Value::Int(4, _))));
    }

    #[test]
    fn embedded_fields_are_promoted() {
        let inner = Value::Struct(Arc::new(Struct::plain(
            "yaml.NameMeta",
            vec![("Name", Value::string("app"))],
        )));
        let outer = Value::Struct(Arc::new(Struct {
            type_name: "update.ObjectIdentifier".into(),
            fields: vec![Field {
                name: "NameMeta".into(),
                value: inner,
                embedded: true,
            }],
            methods: vec![],
            string: None,
        }));
        assert_eq!(
            outer.struct_field("Name").and_then(Value::as_str),
            Some("app")
        );
        assert!(outer.struct_field("Kind").is_none());
    }
}
