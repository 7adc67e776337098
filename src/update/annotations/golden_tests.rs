//! Golden trees for the annotations strategy (filled below).
