using System.CommandLine;
using System.Globalization;
using Frugal.Compression.Importance;
using Frugal.Models;

namespace Frugal.Cli.Commands;

/// <summary>
/// <c>frugal imatrix --model M --text FILE -o IMATRIX [--ctx 512] [--chunks N] [--process-output] [--threads N]</c>:
/// llama-imatrix's importance matrix (mean squared activation per input column of every matrix), written in
/// llama.cpp's file format so that either tool can use the other's.
/// </summary>
public static class ImatrixCommand
{
    public static Command Create(CliConsole console)
    {
        var model = CommonOptions.Model();
        var text = new Option<string>("--text", "-f") { Description = "Calibration text file", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "Importance matrix file to write", Required = true };
        var context = new Option<int>("--ctx", "-c")
        {
            Description = "Tokens per chunk (each chunk is evaluated from an empty context)",
            DefaultValueFactory = _ => 512,
            CustomParser = result => CommonOptions.ParseInteger(result, "--ctx", minimum: 1),
        };
        var chunks = new Option<int?>("--chunks")
        {
            Description = "Most chunks to evaluate (default: all of the text)",
            CustomParser = result => CommonOptions.ParseInteger(result, "--chunks", minimum: 1),
        };
        var processOutput = new Option<bool>("--process-output") { Description = "Also collect the output matrix (llama-imatrix --process-output)" };
        var threads = CommonOptions.Threads();

        var command = new Command("imatrix", "Compute an importance matrix on calibration text, as llama-imatrix does")
        {
            model, text, output, context, chunks, processOutput, threads,
        };
        command.SetAction(parse =>
        {
            string textPath = parse.GetValue(text)!;
            string outputPath = parse.GetValue(output)!;
            if (!File.Exists(textPath)) throw new FileNotFoundException($"{textPath}: calibration text not found", textPath);
            string? directory = Path.GetDirectoryName(Path.GetFullPath(outputPath));
            if (directory is not null && !Directory.Exists(directory))
                throw new DirectoryNotFoundException($"{outputPath}: cannot write the output, directory {directory} does not exist");
            string calibration = File.ReadAllText(textPath);

            using var loaded = Model.Load(parse.GetValue(model)!, new ModelLoadOptions { Threads = parse.GetValue(threads) });
            var options = new ImportanceOptions
            {
                ContextSize = parse.GetValue(context),
                MaxChunks = parse.GetValue(chunks),
                IncludeOutput = parse.GetValue(processOutput),
                Dataset = textPath,
            };
            var matrix = QuantizeCommand.RunCancellable(outputPath, cancellation => ImportanceMatrixBuilder.Collect(loaded, calibration, options,
                (done, all) => console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[chunk {done}/{all}]")),
                cancellation));
            ImportanceMatrixFile.Write(matrix, outputPath);
            console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {outputPath}: {matrix.Entries.Count} matrices from {matrix.ChunkCount} batches ({options.ContextSize} tokens per chunk)"));
            return CommandLineApp.ExitOk;
        });
        return command;
    }
}
