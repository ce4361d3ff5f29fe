//! Arbitrary bytes decoded as each protocol message: never a panic, and whatever decodes must
//! encode again and decode to an equal message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rivulet::remote::proto::{ClientMessage, Hello, HelloReply, Reply, Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn check<M>(data: &[u8])
where
    M: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    if let Ok(msg) = postcard::from_bytes::<M>(data) {
        let bytes = postcard::to_stdvec(&msg).expect("a decoded message encodes");
        let again = postcard::from_bytes::<M>(&bytes).expect("an encoded message decodes");
        assert_eq!(again, msg);
    }
}

fuzz_target!(|data: &[u8]| {
    check::<Hello>(data);
    check::<HelloReply>(data);
    check::<ClientMessage>(data);
    check::<Reply>(data);
    check::<Request>(data);
    check::<Response>(data);
});
