//! Portal pages (being written).
