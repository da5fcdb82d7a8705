//! The lines an environment's process writes, bounded.

use std::collections::VecDeque;

/// The lines an environment's process wrote, the newest [`MAX_LOG_LINES`] of them: a function
/// served for days does not fill the simulator's memory with its logs. Lines are numbered
/// from the first ever written, so an invocation's own lines are found by number.
#[derive(Debug, Default)]
pub(super) struct LogLines {
    lines: VecDeque<String>,
    /// Lines forgotten from the front.
    dropped: usize,
}

/// The most log lines an execution environment keeps (Lambda's log tail is its last 4 KB).
pub(super) const MAX_LOG_LINES: usize = 10_000;

impl LogLines {
    pub(super) fn push(&mut self, line: String) {
        self.lines.push_back(line);
        if self.lines.len() > MAX_LOG_LINES {
            self.lines.pop_front();
            self.dropped += 1;
        }
    }

    /// Every line still kept, oldest first.
    pub(super) fn kept(&self) -> impl Iterator<Item = &String> {
        self.lines.iter()
    }

    /// The number the next line will have.
    pub(super) fn mark(&self) -> usize {
        self.dropped + self.lines.len()
    }

    /// The lines from number `mark` on (those still kept), joined.
    pub(super) fn since(&self, mark: usize) -> String {
        let skip = mark.saturating_sub(self.dropped);
        self.lines.iter().skip(skip).cloned().collect::<Vec<_>>().join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_lines_numbered_from_the_first_ever() {
        let mut logs = LogLines::default();
        logs.push("a".into());
        let mark = logs.mark();
        logs.push("b".into());
        logs.push("c".into());
        assert_eq!((mark, logs.since(mark)), (1, "b\nc".to_string()));
        for i in 0..MAX_LOG_LINES {
            logs.push(format!("line {i}"));
        }
        // Bounded: the oldest are forgotten, the numbering goes on.
        assert_eq!(logs.mark(), 3 + MAX_LOG_LINES);
        assert_eq!(logs.lines.len(), MAX_LOG_LINES);
        // A mark of forgotten lines gives what is still kept; a mark past the end, nothing.
        assert!(logs.since(0).starts_with("line 0\n"), "{}", &logs.since(0)[..20]);
        assert_eq!(logs.since(logs.mark()), "");
        assert_eq!(logs.since(logs.mark() - 1), format!("line {}", MAX_LOG_LINES - 1));
    }
}
