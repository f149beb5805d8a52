using System.Runtime.CompilerServices;

// The tokenizer tests check the pre-tokenizer's scanners against the general regex path directly.
[assembly: InternalsVisibleTo("Frugal.Models.Tests")]
