using Xunit;

namespace Frugal.TestSupport;

/// <summary>Locates the ../shared fixtures (models, llama.cpp references, vocabularies, templates).</summary>
public static class SharedData
{
    /// <summary>Absolute path of the shared folder, or null when it is not beside the checkout.</summary>
    public static string? Root { get; } = Locate();

    public static bool Available => Root is not null;

    public const string MissingMessage = "../shared not found beside the checkout: conformance test skipped";

    public static string Path(params string[] parts) =>
        System.IO.Path.Combine([Root ?? throw new InvalidOperationException(MissingMessage), .. parts]);

    public static string Model(string fileName) => Path("models", fileName);

    private static string? Locate()
    {
        string? env = Environment.GetEnvironmentVariable("FRUGAL_SHARED");
        if (!string.IsNullOrEmpty(env) && Directory.Exists(env)) return System.IO.Path.GetFullPath(env);
        // Walk up from the test binary until a folder holds a sibling "shared" with models/ in it.
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = System.IO.Path.Combine(dir.FullName, "shared");
            if (dir.GetFiles("*.slnx").Length > 0 || dir.GetFiles("*.sln").Length > 0)
            {
                string sibling = System.IO.Path.GetFullPath(System.IO.Path.Combine(dir.FullName, "..", "shared"));
                return Directory.Exists(System.IO.Path.Combine(sibling, "models")) ? sibling : null;
            }
            if (Directory.Exists(System.IO.Path.Combine(candidate, "models")) && Directory.Exists(System.IO.Path.Combine(candidate, "reference")))
                return candidate;
        }
        return null;
    }
}

/// <summary>A fact that needs ../shared; counted as skipped (with one clear line) when it is missing.</summary>
public sealed class SharedFactAttribute : FactAttribute
{
    public SharedFactAttribute()
    {
        if (!SharedData.Available) Skip = SharedData.MissingMessage;
    }
}

/// <summary>A theory that needs ../shared; counted as skipped when it is missing.</summary>
public sealed class SharedTheoryAttribute : TheoryAttribute
{
    public SharedTheoryAttribute()
    {
        if (!SharedData.Available) Skip = SharedData.MissingMessage;
    }
}
