//! The resources one object's templates may use together: evaluation steps, output bytes and work bytes.
//!
//! One [`Budget`] is shared by every template of an object (a [`crate::Renderer`]), so an object with many
//! templates gets no more than an object with one. Work bytes count what functions read and produce (text
//! bytes, plus [`NODE_BYTES`] per list item or map entry built or walked), cumulatively: a value dropped
//! after use (`{{ $x := repeat ... }}`, `{{ len (repeat ...) }}`) still used its share, so the memory live
//! at any moment and the total work are both bounded by the budget.

use crate::{MAX_OBJECT_OUTPUT_BYTES, MAX_OBJECT_STEPS, MAX_OBJECT_WORK_BYTES, MAX_VALUE_BYTES};

/// Work bytes charged for each list item or map entry a function builds or walks (about its size in memory).
pub(crate) const NODE_BYTES: usize = 32;

/// Most list items and map entries (counted through nesting) a single value may have.
pub(crate) const MAX_VALUE_NODES: usize = 100_000;

/// Deepest nesting of lists and maps a value may have (walking a value recurses once per level).
pub(crate) const MAX_VALUE_DEPTH: usize = 128;

/// Which limit was exceeded; its message names the limit and its number, never a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// [`MAX_OBJECT_STEPS`].
    Steps,
    /// [`MAX_OBJECT_OUTPUT_BYTES`].
    Output,
    /// [`MAX_OBJECT_WORK_BYTES`].
    Work,
    /// [`MAX_VALUE_BYTES`].
    ValueBytes,
    /// [`MAX_VALUE_NODES`].
    ValueNodes,
    /// [`MAX_VALUE_DEPTH`].
    ValueDepth,
}

impl Limit {
    /// The message of the error.
    pub(crate) fn message(self) -> String {
        match self {
            Limit::Steps => format!(
                "the object's templates together exceed {MAX_OBJECT_STEPS} evaluation steps"
            ),
            Limit::Output => format!(
                "the object's templates together output more than {MAX_OBJECT_OUTPUT_BYTES} bytes"
            ),
            Limit::Work => format!(
                "the object's templates together make functions read and produce more than \
                 {MAX_OBJECT_WORK_BYTES} bytes"
            ),
            Limit::ValueBytes => format!("a value would exceed {MAX_VALUE_BYTES} bytes"),
            Limit::ValueNodes => {
                format!("a list or map would have more than {MAX_VALUE_NODES} items")
            }
            Limit::ValueDepth => {
                format!("lists and maps would be nested deeper than {MAX_VALUE_DEPTH} levels")
            }
        }
    }
}

/// What one object's templates have used so far.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    steps: usize,
    output: usize,
    work: usize,
}

impl Budget {
    /// Counts one evaluation step (a command or a loop iteration).
    pub(crate) fn step(&mut self) -> Result<(), Limit> {
        take(&mut self.steps, 1, MAX_OBJECT_STEPS, Limit::Steps)
    }

    /// Counts `n` bytes of output.
    pub(crate) fn output(&mut self, n: usize) -> Result<(), Limit> {
        take(&mut self.output, n, MAX_OBJECT_OUTPUT_BYTES, Limit::Output)
    }

    /// Counts `n` bytes of work (read or produced by a function).
    pub(crate) fn work(&mut self, n: usize) -> Result<(), Limit> {
        take(&mut self.work, n, MAX_OBJECT_WORK_BYTES, Limit::Work)
    }

    /// Counts `nodes` list items or map entries built or walked.
    pub(crate) fn nodes(&mut self, nodes: usize) -> Result<(), Limit> {
        self.work(nodes.saturating_mul(NODE_BYTES))
    }

    /// Counts a value of `n` bytes a function produces: within the per-value limit and the work budget.
    pub(crate) fn produce(&mut self, n: usize) -> Result<(), Limit> {
        if n > MAX_VALUE_BYTES {
            return Err(Limit::ValueBytes);
        }
        self.work(n)
    }

    /// Whether a value of `n` bytes could still be produced (checked before building it; not counted).
    pub(crate) fn can_produce(&self, n: usize) -> Result<(), Limit> {
        if n > MAX_VALUE_BYTES {
            Err(Limit::ValueBytes)
        } else if n > self.work_room() {
            Err(Limit::Work)
        } else {
            Ok(())
        }
    }

    /// Most bytes a function may still produce as one value.
    pub(crate) fn cap(&self) -> usize {
        MAX_VALUE_BYTES.min(self.work_room())
    }

    /// The limit a value larger than [`Budget::cap`] runs into.
    pub(crate) fn cap_limit(&self) -> Limit {
        if self.work_room() < MAX_VALUE_BYTES {
            Limit::Work
        } else {
            Limit::ValueBytes
        }
    }

    /// Output bytes left.
    pub(crate) fn output_room(&self) -> usize {
        MAX_OBJECT_OUTPUT_BYTES - self.output
    }

    /// Work bytes left.
    pub(crate) fn work_room(&self) -> usize {
        MAX_OBJECT_WORK_BYTES - self.work
    }

    /// Work bytes used so far.
    #[cfg(test)]
    pub(crate) fn work_used(&self) -> usize {
        self.work
    }

    /// Output bytes used so far.
    #[cfg(test)]
    pub(crate) fn output_used(&self) -> usize {
        self.output
    }
}

fn take(used: &mut usize, n: usize, max: usize, limit: Limit) -> Result<(), Limit> {
    match used.checked_add(n) {
        Some(total) if total <= max => {
            *used = total;
            Ok(())
        }
        _ => {
            // Once exceeded, stays exceeded: later templates of the object fail too.
            *used = max;
            Err(limit)
        }
    }
}
