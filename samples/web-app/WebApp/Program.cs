using Greetings;

// A minimal web app. With `--probe`, it starts, asks itself for "/" over loopback, prints the answer and stops,
// so a container without curl can prove that the app serves HTTP.
var probe = args.Contains("--probe");
var builder = WebApplication.CreateBuilder(args.Where(a => a != "--probe").ToArray());
builder.Logging.ClearProviders();
var app = builder.Build();
app.MapGet("/", () => Greeter.Greet("web"));

if (!probe)
{
    app.Run();
    return 0;
}

await app.StartAsync();
using var client = new HttpClient();
var port = Environment.GetEnvironmentVariable("ASPNETCORE_HTTP_PORTS") ?? "8080";
var body = await client.GetStringAsync($"http://127.0.0.1:{port}/");
Console.WriteLine($"GET / -> {body}");
await app.StopAsync();
return 0;
