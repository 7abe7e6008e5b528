//! What only QUIC host links do: resume in 0-RTT ([`early`]) with a first flight that
//! repeats until the relay answers ([`repeat`]).

pub(crate) mod early;
pub(crate) mod repeat;
