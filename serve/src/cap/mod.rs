//! CAP 1.2 / GB/T 35965.1 warnings (in progress).
