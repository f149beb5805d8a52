using System.Diagnostics;
using System.Text.RegularExpressions;
using Frugal.TestSupport;

namespace Frugal.Cli.Tests;

/// <summary>
/// `frugal serve` as a real process: a deployment stops it with SIGTERM (docker stop, systemd), and it must shut
/// down cleanly and at once rather than wait for the supervisor's SIGKILL.
/// </summary>
public sealed partial class ServeProcessTests
{
    [SharedFact]
    public async Task Sigterm_stops_the_server_cleanly()
    {
        string frugal = Path.Combine(AppContext.BaseDirectory, "frugal.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { frugal, "serve", "--model", SharedData.Model("stories260K.gguf"), "--port", "0", "--threads", "1" },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var process = Process.Start(start)!;
        try
        {
            // Wait for the line that says where it listens, then check that it answers.
            var deadline = DateTime.UtcNow.AddSeconds(60);
            Uri? address = null;
            while (address is null && DateTime.UtcNow < deadline)
            {
                string? line = await process.StandardError.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
                Assert.True(line is not null, "frugal serve exited before it listened");
                var match = ServingLine().Match(line!);
                if (match.Success) address = new Uri(match.Groups[1].Value);
            }
            Assert.NotNull(address);
            using (var http = new HttpClient())
                Assert.Contains("\"status\":\"ok\"", await http.GetStringAsync(new Uri(address!, "/health")));

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                await kill.WaitForExitAsync();
            using var exited = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await process.WaitForExitAsync(exited.Token);
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    [GeneratedRegex(@"at (http://\S+?)/? \(")]
    private static partial Regex ServingLine();
}
