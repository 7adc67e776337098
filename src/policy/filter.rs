//! `filterTags`: a pattern (Go RE2, unanchored) that a tag must match, and an
//! optional extract template that turns the match into the value to order.

use regex::{CaptureLocations, Regex};

use super::go_regex::{self, RegexError};
use super::template::Template;

/// A validated `filterTags`.
#[derive(Debug, Clone)]
pub struct TagFilter {
    pattern: String,
    regex: Regex,
    extract: Extract,
}

#[derive(Debug, Clone)]
enum Extract {
    /// No template: the value is the whole tag.
    WholeTag,
    /// The template is one group reference: the value is that group's text.
    Group(usize),
    /// Anything else: expanded into a buffer.
    Template(Template),
}

/// Where the value of a tag that passed the filter is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Extracted<'t> {
    /// A slice of the tag.
    Slice(&'t str),
    /// In the buffer passed to [`TagFilter::apply`].
    Buffer,
}

impl TagFilter {
    /// Compiles a pattern and an extract template (empty: the whole tag).
    pub fn new(pattern: &str, extract: &str) -> Result<Self, RegexError> {
        let regex = go_regex::compile(pattern)?;
        let extract = if extract.is_empty() {
            Extract::WholeTag
        } else {
            let template = Template::compile(extract, &regex);
            match template.single_group() {
                Some(index) => Extract::Group(index),
                None => Extract::Template(template),
            }
        };
        Ok(Self {
            pattern: pattern.to_string(),
            regex,
            extract,
        })
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    pub(crate) fn capture_locations(&self) -> CaptureLocations {
        self.regex.capture_locations()
    }

    /// Matches one tag; `None` when the pattern does not match.
    pub(crate) fn apply<'t>(
        &self,
        tag: &'t str,
        locations: &mut CaptureLocations,
        buffer: &mut String,
    ) -> Option<Extracted<'t>> {
        match &self.extract {
            Extract::WholeTag => self.regex.is_match(tag).then_some(Extracted::Slice(tag)),
            Extract::Group(index) => {
                self.regex.captures_read(locations, tag)?;
                let value = locations.get(*index).map_or("", |(s, e)| &tag[s..e]);
                Some(Extracted::Slice(value))
            }
            Extract::Template(template) => {
                self.regex.captures_read(locations, tag)?;
                buffer.clear();
                template.expand(tag, locations, buffer);
                Some(Extracted::Buffer)
            }
        }
    }
}
