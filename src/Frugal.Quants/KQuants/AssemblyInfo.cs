using System.Runtime.CompilerServices;

// The tests reach the emulated 512-bit kernel bodies and the scale unpackers, which are not public API.
[assembly: InternalsVisibleTo("Frugal.Quants.Tests")]
