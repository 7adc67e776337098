//! The items the lexer produces, and their text in parse errors.

/// What kind of item the lexer produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ItemType {
    /// A lexing error; the value is the message.
    Error,
    /// Boolean constant.
    Bool,
    /// Printable ASCII character (grab bag for commas etc.).
    Char,
    /// Character constant (`'a'`).
    CharConstant,
    /// A comment (not emitted unless asked for).
    Comment,
    /// Complex constant (`1+2i`).
    Complex,
    /// `=`.
    Assign,
    /// `:=`.
    Declare,
    /// End of input.
    Eof,
    /// `.Field`.
    Field,
    /// An identifier (a function name).
    Identifier,
    /// `{{`.
    LeftDelim,
    /// `(`.
    LeftParen,
    /// A number.
    Number,
    /// `|`.
    Pipe,
    /// Raw quoted string, quotes included.
    RawString,
    /// `}}`.
    RightDelim,
    /// `)`.
    RightParen,
    /// A run of spaces.
    Space,
    /// Quoted string, quotes included.
    String,
    /// Plain text.
    Text,
    /// `$x`.
    Variable,
    // Keywords come after all the rest (Go prints them as `<word>`).
    /// Marks the start of keywords.
    Keyword,
    /// `block`.
    Block,
    /// `break`.
    Break,
    /// `continue`.
    Continue,
    /// `.` alone.
    Dot,
    /// `define`.
    Define,
    /// `else`.
    Else,
    /// `end`.
    End,
    /// `if`.
    If,
    /// `nil`.
    Nil,
    /// `range`.
    Range,
    /// `template`.
    Template,
    /// `with`.
    With,
}

/// One lexical item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Its type.
    pub typ: ItemType,
    /// Its byte offset in the input.
    pub pos: usize,
    /// Its text.
    pub val: String,
    /// The line it starts on (1-based).
    pub line: usize,
}

impl std::fmt::Display for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.typ {
            ItemType::Eof => f.write_str("EOF"),
            ItemType::Error => f.write_str(&self.val),
            t if t > ItemType::Keyword => write!(f, "<{}>", self.val),
            _ if self.val.chars().count() > 10 => {
                let head: String = self.val.chars().take(10).collect();
                write!(f, "{}...", crate::gotemplate::format::quote(&head, false))
            }
            _ => f.write_str(&crate::gotemplate::format::quote(&self.val, false)),
        }
    }
}
