// Kernels use small stackalloc scratch on every call and initialize what they read; zeroing it first showed up
// as ~9% of a decode step, so the whole assembly skips it.
[module: System.Runtime.CompilerServices.SkipLocalsInit]
