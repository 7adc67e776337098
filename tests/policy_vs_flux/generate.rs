//! Random policy cases: tag lists and policies shaped like real ones (calendar
//! tags, zero padding, `v` prefixes, pre-releases, build numbers) with the odd
//! corners mixed in (huge numbers, Go float syntax, invalid ranges).

/// One case: tags, an exclusion list (empty: the default), an optional
/// `filterTags` (pattern, extract) and the ordering.
#[derive(Debug, Clone)]
pub struct Case {
    pub tags: Vec<String>,
    pub exclusions: Vec<String>,
    pub filter: Option<(String, String)>,
    pub choice: Choice,
}

/// The policy's ordering, with its range or order as written.
#[derive(Debug, Clone)]
pub enum Choice {
    Semver(String),
    Numerical(String),
    Alphabetical(String),
}

impl Choice {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Semver(_) => "semver",
            Self::Numerical(_) => "numerical",
            Self::Alphabetical(_) => "alphabetical",
        }
    }
}

/// SplitMix64: small, seedable, good enough to spread cases.
pub struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent`%.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// An index chosen with the given weights.
    fn weighted(&mut self, weights: &[usize]) -> usize {
        let mut roll = self.below(weights.iter().sum());
        for (index, &weight) in weights.iter().enumerate() {
            if roll < weight {
                return index;
            }
            roll -= weight;
        }
        weights.len() - 1
    }
}

/// `filterTags` that Go and tagpilot both compile; some extract templates
/// map several tags to one value.
const FILTERS: &[(&str, &str)] = &[
    (r"^app-(?P<version>.+)$", "$version"),
    (r"^app-(.+)$", "$1"),
    (r"^v?(\d+)\.(\d+)", "$1.$2.0"),
    (r"^(?P<a>[a-z]+)-(?P<rest>.*)$", "$rest"),
    (r"^main-[a-f0-9]+-(?P<n>\d+)$", "$n"),
    (r"(\d+)", ""),
    (r"rc", ""),
    (r"^(.*?)(?:-rc.*)?$", "${1}"),
    (r"^(?P<x>.*)$", "$x1"),
    ("", ""),
    ("", "$0"),
];

/// Exclusion lists (empty: Flux's default `^.*\.sig$`); `(` does not compile.
const EXCLUSIONS: &[&[&str]] = &[
    &[r"^.*\.sig$"],
    &["^v"],
    &["rc", "alpha"],
    &["(?i)BETA", "^$"],
    &["("],
];

pub fn case(rng: &mut Rng) -> Case {
    let kind = rng.weighted(&[55, 30, 15]);
    let filtered = rng.chance(20);
    let count = match rng.weighted(&[30, 40, 30]) {
        0 => 1,
        1 => 2 + rng.below(4),
        _ => 6 + rng.below(35),
    };
    let (choice, tag): (Choice, fn(&mut Rng) -> String) = match kind {
        0 => (Choice::Semver(range(rng)), version_tag),
        1 => (Choice::Numerical(order(rng)), number_tag),
        _ => (Choice::Alphabetical(order(rng)), text_tag),
    };
    let mut tags: Vec<String> = (0..count)
        .map(|_| {
            let tag = tag(rng);
            if filtered && rng.chance(50) {
                format!("{}{tag}", rng.pick(&["app-", "main-1a2b-", "x-", ""]))
            } else {
                tag
            }
        })
        .collect();
    if rng.chance(30) {
        // Another spelling of a tag: the same version, number or value
        // (`v`, zero padding, build metadata), or the same tag twice.
        let tag = tags[rng.below(tags.len())].clone();
        let variant = match rng.below(5) {
            0 => format!("v{tag}"),
            1 => tag.strip_prefix('v').unwrap_or(&tag).to_string(),
            2 => format!("0{tag}"),
            3 => format!("{tag}+b"),
            _ => tag,
        };
        let at = rng.below(tags.len() + 1);
        tags.insert(at, variant);
    }
    let exclusions = if rng.chance(8) {
        rng.pick(EXCLUSIONS).iter().map(|s| s.to_string()).collect()
    } else {
        Vec::new()
    };
    let filter = filtered.then(|| {
        let (pattern, extract) = rng.pick(FILTERS);
        (pattern.to_string(), extract.to_string())
    });
    Case {
        tags,
        exclusions,
        filter,
        choice,
    }
}

fn order(rng: &mut Rng) -> String {
    rng.pick(&["asc", "desc", ""]).to_string()
}

/// A version-like tag: 1 to 4 parts, zero padding, calendar dates, `v`,
/// pre-releases and build metadata, now and then something broken.
fn version_tag(rng: &mut Rng) -> String {
    if rng.chance(3) {
        return rng
            .pick(&[
                "latest",
                "main",
                "",
                "sha-1a2b3c",
                "1",
                "v",
                "-",
                "1.2.3.sig",
            ])
            .to_string();
    }
    let mut tag = String::new();
    match rng.weighted(&[85, 13, 1, 1]) {
        0 => {}
        1 => tag.push('v'),
        2 => tag.push('V'),
        _ => tag.push_str("vv"),
    }
    let parts = 1 + rng.weighted(&[4, 8, 84, 4]);
    let calendar = rng.chance(15);
    for index in 0..parts {
        if index > 0 {
            tag.push('.');
        }
        tag.push_str(&number_part(
            rng,
            calendar && index > 0,
            calendar && index == 0,
        ));
    }
    if rng.chance(35) {
        tag.push('-');
        let ids = 1 + rng.below(3);
        let parts: Vec<&str> = (0..ids)
            .map(|_| {
                if rng.chance(95) {
                    return rng.pick(&["rc", "alpha", "beta", "0", "1", "2", "10", "x-y", "a1"]);
                }
                rng.pick(&[
                    "rc",
                    "alpha",
                    "beta",
                    "0",
                    "1",
                    "2",
                    "10",
                    "01",
                    "x-y",
                    "-",
                    "a1",
                    "RC",
                    "18446744073709551615",
                    "18446744073709551616",
                    "99999999999999999999",
                    "",
                    "rc_1",
                ])
            })
            .collect();
        tag.push_str(&parts.join("."));
    }
    if rng.chance(12) {
        tag.push('+');
        tag.push_str(rng.pick(&["build", "1", "001", "sha.abc123", "", "x_y", "b.2"]));
    }
    if rng.chance(2) {
        tag.push_str(rng.pick(&[".sig", " ", "\n", "é"]));
    }
    tag
}

/// One numeric part of a version.
fn number_part(rng: &mut Rng, date: bool, year: bool) -> String {
    if year {
        return format!("{}", 2024 + rng.below(3));
    }
    if date {
        return format!("{:02}", 1 + rng.below(12));
    }
    match rng.weighted(&[45, 20, 12, 8, 2, 1, 1, 8]) {
        0 => rng.below(4).to_string(),
        1 => rng.below(13).to_string(),
        2 => format!("0{}", rng.below(10)),
        3 => format!("00{}", rng.below(3)),
        4 => rng
            .pick(&[
                "18446744073709551615",
                "18446744073709551616",
                "99999999999999999999",
            ])
            .to_string(),
        5 => String::new(),
        6 => rng.pick(&["x", "*", "-1", "1e2"]).to_string(),
        _ => rng.below(1000).to_string(),
    }
}

/// A value for a numerical policy: mostly build numbers, plus Go's float
/// syntax and things that are not numbers.
fn number_tag(rng: &mut Rng) -> String {
    match rng.weighted(&[40, 10, 8, 8, 8, 6, 5, 5, 5, 3, 2]) {
        0 => rng.below(200).to_string(),
        1 => format!("{}.{}", rng.below(20), rng.below(20)),
        2 => rng
            .pick(&[
                "1_000", "1_0", "10_0", "1__0", "_10", "10_", "1_0.5", "0_7", "1e1_0",
            ])
            .to_string(),
        3 => format!(
            "{}e{}{}",
            rng.below(20),
            rng.pick(&["", "+", "-"]),
            rng.below(4)
        ),
        4 => rng
            .pick(&[
                "0x1p4",
                "0x10p0",
                "0X1P+4",
                "0x1.8p3",
                "0x.8p5",
                "0x_1p4",
                "0x1",
                "0xAp0",
                "0x1p",
                "0x1_p0",
                "0x1p-1074",
                "0x1p1024",
                "0x1.fffffffffffffp1023",
            ])
            .to_string(),
        5 => rng
            .pick(&[
                "Inf",
                "inf",
                "+Inf",
                "-inf",
                "Infinity",
                "-INFINITY",
                "infin",
                "NaN",
                "nan",
                "+nan",
                "-NaN",
            ])
            .to_string(),
        6 => format!("{}{}", rng.pick(&["+", "-"]), rng.below(50)),
        7 => format!("{}{}", rng.pick(&["0", "00", "000"]), rng.below(30)),
        8 => rng
            .pick(&[
                "latest", "", ".", "1.2.3", " 1", "1 ", "1,5", "0b1", "v1", "1f", "e5", "5.",
            ])
            .to_string(),
        9 => rng
            .pick(&[
                "1e400",
                "-1e400",
                "1e-400",
                "1.7976931348623159e308",
                "4.9e-324",
            ])
            .to_string(),
        _ => (0..20 + rng.below(10))
            .map(|_| char::from(b'0' + rng.below(10) as u8))
            .collect(),
    }
}

/// A value for an alphabetical policy.
fn text_tag(rng: &mut Rng) -> String {
    if rng.chance(25) {
        return version_tag(rng);
    }
    const ALPHABET: &[&str] = &[
        "a", "b", "z", "A", "Z", "0", "1", "9", "-", ".", "_", "é", "日", "~",
    ];
    (0..rng.below(7)).map(|_| rng.pick(ALPHABET)).collect()
}

/// A Masterminds range: mostly valid, of every operator, wildcards,
/// pre-releases, hyphen ranges and alternatives; now and then invalid.
fn range(rng: &mut Rng) -> String {
    if rng.chance(5) {
        let broken = rng.below(12);
        return match broken {
            0 => String::new(),
            1 => ">=".into(),
            2 => "1.2.3.4".into(),
            3 => ">=1.0<2".into(),
            4 => "abc".into(),
            5 => "1 -2".into(),
            6 => ">=1 ||".into(),
            7 => ">=1.0,".into(),
            8 => ">=1.2.3-01".into(),
            9 => format!(">={}", "1".repeat(600)),
            10 => vec![">=1"; 33].join("||"),
            _ => vec![">=1"; 32].join("||"),
        };
    }
    let alternatives = 1 + rng.weighted(&[70, 25, 5]);
    let mut groups = Vec::new();
    for _ in 0..alternatives {
        let comparators = 1 + rng.weighted(&[55, 35, 10]);
        let mut group = String::new();
        for index in 0..comparators {
            if index > 0 {
                group.push_str(rng.pick(&[" ", ", ", ", ", ",", "  "]));
            }
            if rng.chance(6) {
                group.push_str(&format!("{} - {}", operand(rng), operand(rng)));
                continue;
            }
            group.push_str(rng.pick(&[
                "", "=", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^", ">=", "<", "^",
                "~",
            ]));
            if rng.chance(10) {
                group.push(' ');
            }
            group.push_str(&operand(rng));
        }
        groups.push(group);
    }
    groups.join(rng.pick(&["||", " || "]))
}

/// A constraint's version: wildcards, 1 to 3 parts, pre-release, build.
fn operand(rng: &mut Rng) -> String {
    let mut text = String::new();
    if rng.chance(10) {
        text.push('v');
    }
    let calendar = rng.chance(8);
    let parts = 1 + rng.weighted(&[20, 30, 50]);
    for index in 0..parts {
        if index > 0 {
            text.push('.');
        }
        if calendar {
            text.push_str(&if index == 0 {
                "2025".to_string()
            } else {
                format!("{:02}", rng.below(13))
            });
            continue;
        }
        match rng.weighted(&[75, 18, 6, 1]) {
            0 => text.push_str(&rng.below(if index == 0 { 4 } else { 6 }).to_string()),
            1 => text.push_str(rng.pick(&["x", "X", "*"])),
            2 => text.push_str(&format!("0{}", rng.below(3))),
            _ => text.push_str("18446744073709551616"),
        }
    }
    if rng.chance(25) {
        text.push_str(rng.pick(&["-0", "-rc", "-rc.1", "-alpha.0", "-beta.2", "-z"]));
    }
    if rng.chance(1) {
        text.push_str("-01");
    }
    if rng.chance(4) {
        text.push_str("+b");
    }
    text
}
