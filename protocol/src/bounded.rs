//! Sequences with a maximum length, for the fields of a screen update. Decoding checks the
//! declared length against the maximum before it allocates anything, so a few bytes that
//! claim a million rows cost nothing; without this, serde would reserve up to 1 MiB for
//! each such claim and build every row before `Screen::validate` could refuse them.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, Error, SeqAccess, Visitor};

use crate::limits::{MAX_COLS, MAX_ROWS, SCROLLBACK_LINES};
use crate::screen::{Line, Run};

/// Rows of a screen: at most [`MAX_ROWS`].
pub(crate) fn rows<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Line>, D::Error> {
    seq::<_, _, { MAX_ROWS as usize }>(d)
}

/// Rows of scrollback: at most [`SCROLLBACK_LINES`].
pub(crate) fn scrollback<'de, D: Deserializer<'de>>(d: D) -> Result<VecDeque<Line>, D::Error> {
    seq::<_, _, SCROLLBACK_LINES>(d)
}

/// Runs of a row: at most [`MAX_COLS`] (a run covers at least one cell).
pub(crate) fn runs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Run>, D::Error> {
    seq::<_, _, { MAX_COLS as usize }>(d)
}

/// Changed rows of a diff: at most [`MAX_ROWS`].
pub(crate) fn row_patches<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(u16, Line)>, D::Error> {
    seq::<_, _, { MAX_ROWS as usize }>(d)
}

/// Corrections to pushed rows of a diff: at most [`SCROLLBACK_LINES`].
pub(crate) fn history_patches<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<(u32, Line)>, D::Error> {
    seq::<_, _, SCROLLBACK_LINES>(d)
}

fn seq<'de, D, T, const MAX: usize>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: BoundedSeq,
    T::Item: Deserialize<'de>,
{
    d.deserialize_seq(Bounded::<T, MAX>(PhantomData))
}

/// A collection built from a vector.
trait BoundedSeq: From<Vec<Self::Item>> {
    type Item;
}

impl<T> BoundedSeq for Vec<T> {
    type Item = T;
}

impl<T> BoundedSeq for VecDeque<T> {
    type Item = T;
}

struct Bounded<T, const MAX: usize>(PhantomData<T>);

impl<'de, T, const MAX: usize> Visitor<'de> for Bounded<T, MAX>
where
    T: BoundedSeq,
    T::Item: Deserialize<'de>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a sequence of at most {MAX} elements")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        let declared = seq.size_hint().unwrap_or(0);
        if declared > MAX {
            return Err(A::Error::invalid_length(declared, &self));
        }
        let mut items = Vec::with_capacity(declared);
        while let Some(item) = seq.next_element()? {
            if items.len() == MAX {
                return Err(A::Error::invalid_length(MAX + 1, &self));
            }
            items.push(item);
        }
        Ok(items.into())
    }
}
