//! `frequencies`: streamz's row and counting as the model.

use std::collections::HashMap;

use proptest::prelude::*;
use rivulet::prelude::*;

/// V14 (test_frequencies).
#[tokio::test]
async fn v14_frequencies() {
    let source = Source::new();
    let list = source.stream().frequencies().sink_to_list();
    for x in ["a", "b", "a"] {
        source.emit(x).await.unwrap();
    }
    assert_eq!(
        list.snapshot(),
        vec![
            HashMap::from([("a", 1)]),
            HashMap::from([("a", 1), ("b", 1)]),
            HashMap::from([("a", 2), ("b", 1)]),
        ]
    );
}

proptest! {
    /// After the i-th item, the counts are those of the first i items.
    #[test]
    fn matches_counting(items in prop::collection::vec(0u8..10, 0..60)) {
        let got: Vec<HashMap<u8, usize>> = futures::executor::block_on(
            futures::stream::iter(items.clone()).frequencies().collect(),
        );
        prop_assert_eq!(got.len(), items.len());
        for (end, counts) in (1..=items.len()).zip(got) {
            let prefix = &items[..end];
            let mut expected = HashMap::new();
            for x in prefix {
                expected.insert(*x, prefix.iter().filter(|y| *y == x).count());
            }
            prop_assert_eq!(counts, expected);
        }
    }
}
