//! JSON schemas of the hub types and what is derived from them: the schema of
//! each served version (the hub's, with [`VersionRule`]s applied), the check
//! of a document against it (unknown and missing fields, all of them at once),
//! and the version's defaults. The CRDs serve exactly these schemas, and the
//! loader checks and defaults files with them, so a file and an object sent
//! through the API server are read the same way.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use schemars::transform::AddNullable;
use serde_json::{Map, Value};

use super::version::{ApiVersion, VersionRule};

/// The schema of `T` as CRDs want it: OpenAPI v3, every subschema inlined,
/// optional fields `nullable`, enums as `enum` lists, no generated defaults
/// (the only defaults are the versions' own, from [`VersionRule::Default`]).
pub fn generate<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::openapi3()
        .with(|settings| {
            settings.inline_subschemas = true;
            settings.meta_schema = None;
        })
        .with_transform(AddNullable::default())
        .into_generator();
    let mut value = generator.into_root_schema_for::<T>().to_value();
    if let Some(map) = value.as_object_mut() {
        map.remove("title");
        map.remove("$schema");
    }
    normalize(&mut value);
    value
}

/// Rewrites schemars' output into a structural schema (what the API server accepts).
fn normalize(node: &mut Value) {
    let Some(map) = node.as_object_mut() else {
        return;
    };
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(branches)) = map.get_mut(key) {
            branches.iter_mut().for_each(normalize);
        }
    }
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        properties.values_mut().for_each(normalize);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = map.get_mut(key) {
            normalize(child);
        }
    }
    map.remove("default");
    if map.get("additionalProperties") == Some(&Value::Bool(false)) {
        map.remove("additionalProperties");
    }
    // `Option<T>`: `anyOf: [T, null]` becomes T, nullable.
    if let Some(Value::Array(branches)) = map.get("anyOf").cloned() {
        let (nulls, others): (Vec<Value>, Vec<Value>) =
            branches.into_iter().partition(is_null_schema);
        if !nulls.is_empty() && others.len() == 1 {
            map.remove("anyOf");
            if let Some(Value::Object(inner)) = others.into_iter().next() {
                for (key, value) in inner {
                    map.entry(key).or_insert(value);
                }
            }
            map.insert("nullable".into(), Value::Bool(true));
        }
    }
    // Enums whose variants carry docs: `oneOf: [{const: A}, {enum: [B]}]` becomes `enum: [A, B]`.
    if let Some(Value::Array(branches)) = map.get("oneOf").cloned() {
        let mut values = Vec::new();
        let all_constants = branches.iter().all(|branch| {
            if let Some(constant) = branch.get("const") {
                values.push(constant.clone());
                true
            } else if let Some(Value::Array(listed)) = branch.get("enum") {
                values.extend(listed.iter().cloned());
                true
            } else {
                false
            }
        });
        if all_constants {
            map.remove("oneOf");
            map.insert("type".into(), Value::String("string".into()));
            map.insert("enum".into(), Value::Array(values));
        }
    }
    if let Some(Value::Array(values)) = map.get_mut("enum")
        && values.iter().any(Value::is_null)
    {
        values.retain(|v| !v.is_null());
        map.insert("nullable".into(), Value::Bool(true));
    }
    if let Some(Value::Array(types)) = map.get("type").cloned() {
        let named: Vec<Value> = types.into_iter().filter(|t| t != "null").collect();
        if named.len() == 1 {
            map.insert("type".into(), named[0].clone());
            map.insert("nullable".into(), Value::Bool(true));
        }
    }
    if map.get("const").is_some_and(Value::is_string)
        && let Some(constant) = map.remove("const")
    {
        map.insert("enum".into(), Value::Array(vec![constant]));
    }
}

fn is_null_schema(schema: &Value) -> bool {
    let empty_enum = schema
        .get("enum")
        .and_then(Value::as_array)
        .is_some_and(|values| values.iter().all(Value::is_null));
    schema.get("type") == Some(&Value::String("null".into()))
        || schema.get("const") == Some(&Value::Null)
        || (empty_enum && schema.get("type").is_none())
}

/// The schema of one served version: the hub's `spec` schema with the rules
/// of `version` applied (fields it lacks removed, its defaults and required
/// fields added). Rule paths start with `spec.`.
pub fn version_spec_schema(hub_spec: &Value, rules: &[VersionRule], version: ApiVersion) -> Value {
    let mut schema = hub_spec.clone();
    for rule in rules {
        match *rule {
            VersionRule::OnlyIn(path, versions) if !versions.contains(&version) => {
                if let Some((parent, field)) = parent_of(&mut schema, path) {
                    remove_property(parent, field);
                }
            }
            VersionRule::Default(path, versions, default) if versions.contains(&version) => {
                let value: Value = serde_json::from_str(default).unwrap_or(Value::Null);
                if let Some((parent, field)) = parent_of(&mut schema, path)
                    && let Some(Value::Object(node)) =
                        parent.get_mut("properties").and_then(|p| p.get_mut(field))
                {
                    node.insert("default".into(), value);
                }
            }
            VersionRule::Required(path, versions) if versions.contains(&version) => {
                if let Some((parent, field)) = parent_of(&mut schema, path) {
                    add_required(parent, field);
                }
            }
            VersionRule::Values(path, versions, values) if versions.contains(&version) => {
                if let Some((parent, field)) = parent_of(&mut schema, path)
                    && let Some(Value::Object(node)) =
                        parent.get_mut("properties").and_then(|p| p.get_mut(field))
                {
                    let values = values
                        .iter()
                        .map(|v| Value::String(v.to_string()))
                        .collect();
                    node.insert("enum".into(), Value::Array(values));
                }
            }
            _ => {}
        }
    }
    schema
}

/// The schema node holding the last segment of `path` (which starts with
/// `spec.`), and that segment; lists are passed through to their items.
fn parent_of<'a, 'p>(spec: &'a mut Value, path: &'p str) -> Option<(&'a mut Value, &'p str)> {
    let rest = path.strip_prefix("spec.")?;
    let mut segments: Vec<&str> = rest.split('.').collect();
    let field = segments.pop()?;
    let mut node = spec;
    for segment in segments {
        node = node.get_mut("properties")?.get_mut(segment)?;
        while node.get("items").is_some() {
            node = node.get_mut("items")?;
        }
    }
    Some((node, field))
}

fn remove_property(parent: &mut Value, field: &str) {
    if let Some(Value::Object(properties)) = parent.get_mut("properties") {
        properties.remove(field);
    }
    if let Some(Value::Array(required)) = parent.get_mut("required") {
        required.retain(|name| name != field);
    }
}

fn add_required(parent: &mut Value, field: &str) {
    let Some(map) = parent.as_object_mut() else {
        return;
    };
    let required = map
        .entry("required")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(names) = required
        && !names.iter().any(|name| name == field)
    {
        names.push(Value::String(field.to_string()));
    }
}

/// A field of a document that its version's schema refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldProblem {
    /// A field the version does not have.
    Unknown {
        /// Where, e.g. `spec.git.commit.signingKey.type` (list items as `[0]`).
        path: String,
        /// The field's name.
        field: String,
        /// The fields the version has there.
        expected: Vec<String>,
    },
    /// A field the version requires.
    Missing {
        /// The object that lacks it, e.g. `spec`.
        path: String,
        /// The field's name.
        field: String,
    },
}

impl FieldProblem {
    /// The path of the field in question, list indexes dropped (for looking it
    /// up in another version's schema).
    pub fn field_path(&self) -> String {
        let full = match self {
            Self::Unknown { path, .. } => path.clone(),
            Self::Missing { path, field } => format!("{path}.{field}"),
        };
        let mut clean = String::with_capacity(full.len());
        let mut in_index = false;
        for c in full.chars() {
            match c {
                '[' => in_index = true,
                ']' => in_index = false,
                _ if !in_index => clean.push(c),
                _ => {}
            }
        }
        clean
    }
}

/// Every field of `document` (an object's `spec`) that `schema` does not
/// have, and every required field it lacks, in document order.
pub fn check(document: &Value, schema: &Value, path: &str) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    check_into(document, schema, path, &mut problems);
    problems
}

fn check_into(document: &Value, schema: &Value, path: &str, problems: &mut Vec<FieldProblem>) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    match document {
        Value::Object(fields) => {
            if let Some(Value::Object(properties)) = schema.get("properties") {
                for (name, value) in fields {
                    let inner = format!("{path}.{name}");
                    match properties.get(name) {
                        Some(child) => check_into(value, child, &inner, problems),
                        None => problems.push(FieldProblem::Unknown {
                            path: inner,
                            field: name.clone(),
                            expected: properties.keys().cloned().collect(),
                        }),
                    }
                }
                if let Some(Value::Array(required)) = schema.get("required") {
                    for name in required.iter().filter_map(Value::as_str) {
                        if !fields.contains_key(name) {
                            problems.push(FieldProblem::Missing {
                                path: path.to_string(),
                                field: name.to_string(),
                            });
                        }
                    }
                }
            } else if let Some(child @ Value::Object(_)) = schema.get("additionalProperties") {
                for (name, value) in fields {
                    check_into(value, child, &format!("{path}.{name}"), problems);
                }
            }
        }
        Value::Array(items) => {
            if let Some(child) = schema.get("items") {
                for (index, item) in items.iter().enumerate() {
                    check_into(item, child, &format!("{path}[{index}]"), problems);
                }
            }
        }
        _ => {}
    }
}

/// A string value of `document` (an object's `spec`) at `path` (`spec.a.b`,
/// no lists) that the `enum` of that field in `schema` does not list, with the
/// values it does list.
pub fn refused_value(
    document: &Value,
    schema: &Value,
    path: &str,
) -> Option<(String, Vec<String>)> {
    let rest = path.strip_prefix("spec.")?;
    let (mut value, mut node) = (document, schema);
    for segment in rest.split('.') {
        value = value.get(segment)?;
        node = node.get("properties")?.get(segment)?;
    }
    let text = value.as_str()?;
    let allowed: Vec<String> = node
        .get("enum")?
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    (!allowed.iter().any(|a| a == text)).then(|| (text.to_string(), allowed))
}

/// Whether `schema` (a `spec` schema) has the field at `path` (`spec.a.b`, no indexes).
pub fn has_field(schema: &Value, path: &str) -> bool {
    let Some(rest) = path.strip_prefix("spec.") else {
        return false;
    };
    let mut node = schema;
    for segment in rest.split('.') {
        while let Some(items) = node.get("items") {
            node = items;
        }
        match node.get("properties").and_then(|p| p.get(segment)) {
            Some(child) => node = child,
            None => return false,
        }
    }
    true
}

/// Fills in the defaults of `schema` where `document` lacks the field and its
/// parent is present, as the API server's structural defaulting does.
pub fn apply_defaults(document: &mut Value, schema: &Value) {
    match document {
        Value::Object(fields) => {
            if let Some(Value::Object(properties)) = schema.get("properties") {
                for (name, child) in properties {
                    if !fields.contains_key(name)
                        && let Some(default) = child.get("default")
                    {
                        fields.insert(name.clone(), default.clone());
                    }
                    if let Some(value) = fields.get_mut(name) {
                        apply_defaults(value, child);
                    }
                }
            } else if let Some(child @ Value::Object(_)) = schema.get("additionalProperties") {
                for value in fields.values_mut() {
                    apply_defaults(value, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(child) = schema.get("items") {
                items
                    .iter_mut()
                    .for_each(|item| apply_defaults(item, child));
            }
        }
        _ => {}
    }
}

/// `a`, `a` or `b`, one of `a`, `b`, `c` (serde's wording).
pub fn expected_list(names: &[String]) -> String {
    match names {
        [] => "no fields".to_string(),
        [one] => format!("`{one}`"),
        [first, second] => format!("`{first}` or `{second}`"),
        more => format!(
            "one of {}",
            more.iter()
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A schema of an object with these properties (for the CRDs' top level).
pub fn object_schema(properties: Map<String, Value>) -> Value {
    let mut map = Map::new();
    map.insert("type".into(), Value::String("object".into()));
    map.insert("properties".into(), Value::Object(properties));
    Value::Object(map)
}
