namespace Frugal.Cli.Commands;

/// <summary>Where a command writes: results to <see cref="Out"/>, progress, timings and errors to <see cref="Error"/>.</summary>
public sealed record CliConsole(TextWriter Out, TextWriter Error);
