// The `frugal` command. Subcommands are wired in Commands/; this file only hands over to them.
Console.Error.WriteLine("frugal: no commands wired yet");
return 2;
