using Polly;

// Prints a greeting (retried through a Polly pipeline, to have a third-party package in the image), the user it runs
// as and its arguments, so a test can check the image's configuration from the container's output.
var pipeline = new ResiliencePipelineBuilder().AddRetry(new() { MaxRetryAttempts = 1, Delay = TimeSpan.Zero }).Build();
var greeting = pipeline.Execute(() => Environment.GetEnvironmentVariable("GREETING") ?? "Hello");
const string Version = "v1";
Console.WriteLine($"{greeting} ({Version}) as {Environment.UserName} in {Environment.CurrentDirectory}; args: {string.Join(' ', args)}");
