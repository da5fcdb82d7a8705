//! Which checks a parse reads: all of them, or one at a time to find each one's errors (the
//! others skipped unread), counting them on the way.

use std::fmt;

/// Which checks a parse reads (the others are skipped unread).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pick {
    /// Every check.
    All,
    /// None: the spec's other keys only.
    None,
    /// The check at this index.
    Only(usize),
}

thread_local! {
    /// What the parse on this thread picks.
    pub(crate) static PICK: std::cell::Cell<Pick> = const { std::cell::Cell::new(Pick::All) };
    /// How many checks the last parse on this thread saw.
    pub(crate) static COUNT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// `checks` as the current parse picks them.
pub(crate) fn picked_checks<'de, D: serde::Deserializer<'de>, C: serde::Deserialize<'de>>(
    d: D,
) -> Result<Vec<C>, D::Error> {
    struct Visit<C>(Pick, std::marker::PhantomData<C>);
    impl<'de, C: serde::Deserialize<'de>> serde::de::Visitor<'de> for Visit<C> {
        type Value = Vec<C>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of checks")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<C>, A::Error> {
            let mut out = Vec::new();
            let mut i = 0;
            loop {
                let more = match self.0 {
                    Pick::All => seq.next_element::<C>()?.map(|c| out.push(c)).is_some(),
                    Pick::Only(n) if n == i => seq.next_element::<C>()?.map(|c| out.push(c)).is_some(),
                    _ => seq.next_element::<serde::de::IgnoredAny>()?.is_some(),
                };
                if !more {
                    break;
                }
                i += 1;
            }
            COUNT.set(i);
            Ok(out)
        }
    }
    d.deserialize_seq(Visit(PICK.get(), std::marker::PhantomData))
}
