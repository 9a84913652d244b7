//! The aiblox knowledge-base contract (filled in by the contract issue).
