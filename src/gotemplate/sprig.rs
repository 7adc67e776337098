//! Sprig's hermetic functions (`sprig.HermeticTxtFuncMap()`, Sprig v3.3):
//! every Sprig function except `date`, `now`, the `rand*` family, `uuidv4`,
//! `env`, `expandenv` and `getHostByName`, with its Go signature.
//!
//! A few hermetic functions cannot give Go's result here and fail when
//! called (the template still parses, as in Go): the ones that generate keys,
//! certificates, bcrypt hashes or random output (`bcrypt`, `htpasswd`,
//! `genPrivateKey`, `genCA…`, `genSelfSignedCert…`, `genSignedCert…`,
//! `buildCustomCert`, `derivePassword`, `encryptAES`, `decryptAES`,
//! `shuffle`, `randInt`), `semver` and `semverCompare`, and the ones that
//! read or make `time.Time` values
//! (`ago`, `toDate`, `mustToDate`, `unixEpoch`, `dateModify`…), which Flux's
//! data never holds.

use super::funcs::{Function, f};
use super::sprig_data as data;
use super::sprig_dict as dict;
use super::sprig_encoding as enc;
use super::sprig_text as text;
use super::value::Value;

const S: &str = "string";
const I: &str = "int";
const A: &str = "interface {}";
const M: &str = "map[string]interface {}";

/// Sprig's function called `name`, if it is in the hermetic set.
pub fn lookup(name: &str) -> Option<Function> {
    Some(match name {
        "hello" => f(&[], None, |_| Ok(Value::string("Hello!"))),
        // Strings.
        "abbrev" => f(&[I, S], None, text::abbrev),
        "abbrevboth" => f(&[I, I, S], None, text::abbrevboth),
        "trunc" => f(&[I, S], None, text::trunc),
        "trim" => f(&[S], None, |a| {
            text::map_str(a, |s| s.trim_matches(char::is_whitespace).to_string())
        }),
        "upper" => f(&[S], None, |a| {
            text::map_str(a, |s| s.chars().map(text::upper_rune).collect())
        }),
        "lower" => f(&[S], None, |a| {
            text::map_str(a, |s| s.chars().map(text::lower_rune).collect())
        }),
        "title" => f(&[S], None, |a| text::map_str(a, text::title)),
        "untitle" => f(&[S], None, |a| text::map_str(a, text::untitle)),
        "substr" => f(&[I, I, S], None, text::substr),
        "repeat" => f(&[I, S], None, text::repeat),
        "trimall" | "trimAll" => f(&[S, S], None, |a| {
            text::map_str2(a, |cut, s| s.trim_matches(|c| cut.contains(c)).to_string())
        }),
        "trimSuffix" => f(&[S, S], None, |a| {
            text::map_str2(a, |x, s| s.strip_suffix(x).unwrap_or(s).to_string())
        }),
        "trimPrefix" => f(&[S, S], None, |a| {
            text::map_str2(a, |x, s| s.strip_prefix(x).unwrap_or(s).to_string())
        }),
        "nospace" => f(&[S], None, |a| {
            text::map_str(a, |s| s.chars().filter(|c| !c.is_whitespace()).collect())
        }),
        "initials" => f(&[S], None, |a| text::map_str(a, text::initials)),
        "swapcase" => f(&[S], None, |a| text::map_str(a, text::swapcase)),
        "snakecase" => f(&[S], None, |a| {
            text::map_str(a, |s| text::delimited_case(s, '_'))
        }),
        "kebabcase" => f(&[S], None, |a| {
            text::map_str(a, |s| text::delimited_case(s, '-'))
        }),
        "camelcase" => f(&[S], None, |a| text::map_str(a, text::pascal_case)),
        "wrap" => f(&[I, S], None, text::wrap),
        "wrapWith" => f(&[I, S, S], None, text::wrap_with),
        "contains" => f(&[S, S], None, |a| text::test_str2(a, |x, s| s.contains(x))),
        "hasPrefix" => f(&[S, S], None, |a| {
            text::test_str2(a, |x, s| s.starts_with(x))
        }),
        "hasSuffix" => f(&[S, S], None, |a| text::test_str2(a, |x, s| s.ends_with(x))),
        "quote" => f(&[], Some(A), text::quote),
        "squote" => f(&[], Some(A), text::squote),
        "cat" => f(&[], Some(A), text::cat),
        "indent" => f(&[I, S], None, text::indent),
        "nindent" => f(&[I, S], None, text::nindent),
        "replace" => f(&[S, S, S], None, text::replace),
        "plural" => f(&[S, S, I], None, text::plural),
        "sha1sum" => f(&[S], None, |a| text::map_str(a, enc::sha1_hex)),
        "sha256sum" => f(&[S], None, |a| text::map_str(a, enc::sha256_hex)),
        "sha512sum" => f(&[S], None, |a| text::map_str(a, enc::sha512_hex)),
        "adler32sum" => f(&[S], None, |a| text::map_str(a, enc::adler32)),
        "toString" => f(&[A], None, |a| Ok(Value::string(text::strval(&a[0])))),
        "atoi" => f(&[S], None, text::atoi),
        "int64" => f(&[A], None, |a| Ok(Value::int64(data::to_int64(&a[0])))),
        "int" => f(&[A], None, |a| Ok(Value::int(data::to_int64(&a[0])))),
        "float64" => f(&[A], None, |a| Ok(Value::Float(data::to_float64(&a[0])))),
        "seq" => f(&[], Some(I), data::seq),
        "toDecimal" => f(&[A], None, data::to_decimal),
        "split" => f(&[S, S], None, text::split),
        "splitList" => f(&[S, S], None, text::split_list),
        "splitn" => f(&[S, I, S], None, text::splitn),
        "toStrings" => f(&[A], None, |a| {
            Ok(Value::string_list(data::strslice(&a[0])))
        }),
        "until" => f(&[I], None, data::until),
        "untilStep" => f(&[I, I, I], None, data::until_step),
        // Arithmetic.
        "add1" => f(&[A], None, |a| {
            Ok(Value::int64(data::to_int64(&a[0]).wrapping_add(1)))
        }),
        "add" => f(&[], Some(A), |a| {
            Ok(Value::int64(
                a.iter().map(data::to_int64).fold(0i64, i64::wrapping_add),
            ))
        }),
        "sub" => f(&[A, A], None, |a| {
            Ok(Value::int64(
                data::to_int64(&a[0]).wrapping_sub(data::to_int64(&a[1])),
            ))
        }),
        "div" => f(&[A, A], None, data::div),
        "mod" => f(&[A, A], None, data::modulo),
        "mul" => f(&[A], Some(A), |a| {
            Ok(Value::int64(
                a.iter().map(data::to_int64).fold(1i64, i64::wrapping_mul),
            ))
        }),
        "add1f" => f(&[A], None, |a| {
            Ok(Value::Float(data::decimal_op(
                &a[0],
                &[Value::int(1)],
                |x, y| x + y,
            )))
        }),
        "addf" => f(&[], Some(A), |a| {
            Ok(Value::Float(data::decimal_op(
                &Value::Float(0.0),
                a,
                |x, y| x + y,
            )))
        }),
        "subf" => f(&[A], Some(A), |a| {
            Ok(Value::Float(data::decimal_op(&a[0], &a[1..], |x, y| x - y)))
        }),
        "divf" => f(&[A], Some(A), |a| {
            Ok(Value::Float(data::decimal_op(&a[0], &a[1..], |x, y| x / y)))
        }),
        "mulf" => f(&[A], Some(A), |a| {
            Ok(Value::Float(data::decimal_op(&a[0], &a[1..], |x, y| x * y)))
        }),
        "biggest" | "max" => f(&[A], Some(A), |a| {
            Ok(Value::int64(
                a.iter().map(data::to_int64).max().unwrap_or(0),
            ))
        }),
        "min" => f(&[A], Some(A), |a| {
            Ok(Value::int64(
                a.iter().map(data::to_int64).min().unwrap_or(0),
            ))
        }),
        "maxf" => f(&[A], Some(A), |a| {
            Ok(Value::Float(
                a.iter()
                    .map(data::to_float64)
                    .fold(f64::NEG_INFINITY, data::go_max),
            ))
        }),
        "minf" => f(&[A], Some(A), |a| {
            Ok(Value::Float(
                a.iter()
                    .map(data::to_float64)
                    .fold(f64::INFINITY, data::go_min),
            ))
        }),
        "ceil" => f(&[A], None, |a| {
            Ok(Value::Float(data::to_float64(&a[0]).ceil()))
        }),
        "floor" => f(&[A], None, |a| {
            Ok(Value::Float(data::to_float64(&a[0]).floor()))
        }),
        "round" => f(&[A, I], Some("float64"), data::round),
        // String slices.
        "join" => f(&[S, A], None, |a| {
            let parts = data::strslice(&a[1]);
            let separator = a[0].as_str().unwrap_or_default();
            let size: usize = parts.iter().map(String::len).sum();
            text::check_size(size as u128 + parts.len() as u128 * separator.len() as u128)?;
            Ok(Value::string(parts.join(separator)))
        }),
        "sortAlpha" => f(&[A], None, data::sort_alpha),
        // Defaults, JSON, flow.
        "default" => f(&[A], Some(A), data::default),
        "empty" => f(&[A], None, |a| Ok(Value::Bool(data::empty(&a[0])))),
        "coalesce" => f(&[], Some(A), |a| {
            Ok(a.iter()
                .find(|v| !data::empty(v))
                .cloned()
                .unwrap_or(Value::Missing))
        }),
        "all" => f(&[], Some(A), |a| {
            Ok(Value::Bool(a.iter().all(|v| !data::empty(v))))
        }),
        "any" => f(&[], Some(A), |a| {
            Ok(Value::Bool(a.iter().any(|v| !data::empty(v))))
        }),
        "compact" | "mustCompact" => f(&[A], None, |a| {
            data::list_op(&a[0], "compact on", |items| {
                Ok(Value::any_list(
                    items.iter().filter(|v| !data::empty(v)).cloned().collect(),
                ))
            })
        }),
        "fromJson" => f(&[S], None, |a| {
            Ok(dict::from_json(a[0].as_str().unwrap_or_default()).unwrap_or(Value::Missing))
        }),
        "mustFromJson" => f(&[S], None, |a| {
            dict::from_json(a[0].as_str().unwrap_or_default())
        }),
        "toJson" => f(&[A], None, |a| {
            Ok(Value::string(
                dict::to_json(&a[0], true, None).unwrap_or_default(),
            ))
        }),
        "toPrettyJson" => f(&[A], None, |a| {
            Ok(Value::string(
                dict::to_json(&a[0], true, Some("")).unwrap_or_default(),
            ))
        }),
        "mustToJson" => f(&[A], None, |a| {
            dict::to_json(&a[0], true, None).map(Value::string)
        }),
        "mustToPrettyJson" => f(&[A], None, |a| {
            dict::to_json(&a[0], true, Some("")).map(Value::string)
        }),
        "toRawJson" | "mustToRawJson" => f(&[A], None, |a| {
            dict::to_json(&a[0], false, None).map(Value::string)
        }),
        "ternary" => f(&[A, A, "bool"], None, |a| {
            Ok(if a[2].is_true() {
                a[0].clone()
            } else {
                a[1].clone()
            })
        }),
        "deepCopy" | "mustDeepCopy" => f(&[A], None, |a| Ok(a[0].clone())),
        "fail" => f(&[S], None, |a| {
            Err(a[0].as_str().unwrap_or_default().to_string())
        }),
        // Reflection.
        "typeOf" => f(&[A], None, |a| Ok(Value::string(a[0].type_name()))),
        "typeIs" => f(&[S, A], None, |a| {
            Ok(Value::Bool(a[0].as_str() == Some(&*a[1].type_name())))
        }),
        "typeIsLike" => f(&[S, A], None, |a| {
            let t = a[1].type_name();
            let target = a[0].as_str().unwrap_or_default();
            Ok(Value::Bool(target == &*t || format!("*{target}") == *t))
        }),
        "kindOf" => f(&[A], None, |a| Ok(Value::string(a[0].kind_name()))),
        "kindIs" => f(&[S, A], None, |a| {
            Ok(Value::Bool(a[0].as_str() == Some(a[1].kind_name())))
        }),
        "deepEqual" => f(&[A, A], None, |a| {
            Ok(Value::Bool(super::value::deep_equal(&a[0], &a[1])))
        }),
        // Paths (Linux: `path` and `path/filepath` agree).
        "base" | "osBase" => f(&[S], None, |a| text::map_str(a, enc::path_base)),
        "dir" | "osDir" => f(&[S], None, |a| text::map_str(a, enc::path_dir)),
        "clean" | "osClean" => f(&[S], None, |a| text::map_str(a, enc::path_clean)),
        "ext" | "osExt" => f(&[S], None, |a| text::map_str(a, enc::path_ext)),
        "isAbs" | "osIsAbs" => f(&[S], None, |a| text::test_str(a, |s| s.starts_with('/'))),
        // Encoding.
        "b64enc" => f(&[S], None, |a| text::map_str(a, enc::b64enc)),
        "b64dec" => f(&[S], None, |a| text::map_str(a, enc::b64dec)),
        "b32enc" => f(&[S], None, |a| text::map_str(a, enc::b32enc)),
        "b32dec" => f(&[S], None, |a| text::map_str(a, enc::b32dec)),
        // Lists and dicts.
        "tuple" | "list" => f(&[], Some(A), |a| Ok(Value::any_list(a.to_vec()))),
        "dict" => f(&[], Some(A), dict::dict),
        "get" => f(&[M, S], None, dict::get),
        "set" => f(&[M, S, A], None, dict::set),
        "unset" => f(&[M, S], None, dict::unset),
        "hasKey" => f(&[M, S], None, dict::has_key),
        "pluck" => f(&[S], Some(M), dict::pluck),
        "keys" => f(&[], Some(M), dict::keys),
        "pick" => f(&[M], Some(S), dict::pick),
        "omit" => f(&[M], Some(S), dict::omit),
        "merge" | "mustMerge" => f(&[M], Some(M), |a| dict::merge(a, false)),
        "mergeOverwrite" | "mustMergeOverwrite" => f(&[M], Some(M), |a| dict::merge(a, true)),
        "values" => f(&[M], None, dict::values),
        "append" | "push" | "mustAppend" | "mustPush" => f(&[A, A], None, |a| {
            data::list_op(&a[0], "push on", |items| {
                let mut items = items.to_vec();
                items.push(a[1].clone());
                Ok(Value::any_list(items))
            })
        }),
        "prepend" | "mustPrepend" => f(&[A, A], None, |a| {
            data::list_op(&a[0], "prepend on", |items| {
                let mut all = vec![a[1].clone()];
                all.extend_from_slice(items);
                Ok(Value::any_list(all))
            })
        }),
        "first" | "mustFirst" => f(&[A], None, |a| {
            data::list_op(&a[0], "find first on", |items| {
                Ok(items.first().cloned().unwrap_or(Value::Missing))
            })
        }),
        "last" | "mustLast" => f(&[A], None, |a| {
            data::list_op(&a[0], "find last on", |items| {
                Ok(items.last().cloned().unwrap_or(Value::Missing))
            })
        }),
        "rest" | "mustRest" => f(&[A], None, |a| {
            data::list_op(&a[0], "find rest on", |items| {
                Ok(Value::any_list(items.iter().skip(1).cloned().collect()))
            })
        }),
        "initial" | "mustInitial" => f(&[A], None, |a| {
            data::list_op(&a[0], "find initial on", |items| {
                Ok(Value::any_list(
                    items[..items.len().saturating_sub(1)].to_vec(),
                ))
            })
        }),
        "reverse" | "mustReverse" => f(&[A], None, |a| {
            data::list_op(&a[0], "find reverse on", |items| {
                Ok(Value::any_list(items.iter().rev().cloned().collect()))
            })
        }),
        "uniq" | "mustUniq" => f(&[A], None, data::uniq),
        "without" | "mustWithout" => f(&[A], Some(A), data::without),
        "has" | "mustHas" => f(&[A, A], None, data::has),
        "slice" | "mustSlice" => f(&[A], Some(A), data::slice),
        "concat" => f(&[], Some(A), data::concat),
        "dig" => f(&[], Some(A), dict::dig),
        "chunk" | "mustChunk" => f(&[I, A], None, data::chunk),
        // Regular expressions.
        "regexMatch" => f(&[S, S], None, enc::regex_match),
        "mustRegexMatch" => f(&[S, S], None, enc::must_regex_match),
        "regexFindAll" | "mustRegexFindAll" => f(&[S, S, I], None, enc::regex_find_all),
        "regexFind" | "mustRegexFind" => f(&[S, S], None, enc::regex_find),
        "regexReplaceAll" | "mustRegexReplaceAll" => {
            f(&[S, S, S], None, |a| enc::regex_replace(a, false))
        }
        "regexReplaceAllLiteral" | "mustRegexReplaceAllLiteral" => {
            f(&[S, S, S], None, |a| enc::regex_replace(a, true))
        }
        "regexSplit" | "mustRegexSplit" => f(&[S, S, I], None, enc::regex_split),
        "regexQuoteMeta" => f(&[S], None, |a| text::map_str(a, enc::quote_meta)),
        // URLs.
        "urlParse" => f(&[S], None, enc::url_parse),
        "urlJoin" => f(&[M], None, enc::url_join),
        // Durations.
        "duration" => f(&[A], None, data::duration),
        // Hermetic in Sprig's list, but not reproducible here (see the module docs).
        "semver"
        | "semverCompare"
        | "ago"
        | "durationRound"
        | "toDate"
        | "mustToDate"
        | "unixEpoch"
        | "mustDateModify"
        | "must_date_modify"
        | "bcrypt"
        | "htpasswd"
        | "genPrivateKey"
        | "derivePassword"
        | "buildCustomCert"
        | "genCA"
        | "genCAWithKey"
        | "genSelfSignedCert"
        | "genSelfSignedCertWithKey"
        | "genSignedCert"
        | "genSignedCertWithKey"
        | "encryptAES"
        | "decryptAES"
        | "shuffle"
        | "randInt" => f(&[], Some(A), |_| {
            Err(
                "this Sprig function is not supported by tagpilot's commit message templates"
                    .into(),
            )
        }),
        _ => return None,
    })
}
