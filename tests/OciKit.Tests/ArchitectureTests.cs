using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace OciKit.Tests;

/// <summary>
/// The library's namespaces follow the data flow; a lower namespace never references a higher one
/// (the idea of go-containerregistry's depcheck tests).
/// </summary>
public class ArchitectureTests
{
    // Lower rank = lower layer. A type may only use types of its own or a lower rank.
    private static readonly Dictionary<string, int> Rank = new(StringComparer.Ordinal)
    {
        ["OciKit"] = 0,
        ["OciKit.Primitives"] = 0,
        ["OciKit.Dockerfile"] = 1,
        ["OciKit.References"] = 1,
        ["OciKit.Layers"] = 2,
        ["OciKit.Images"] = 3,
        ["OciKit.Auth"] = 3,
        ["OciKit.Layout"] = 4,
        ["OciKit.Registry"] = 4,
        ["OciKit.Execution"] = 4,
        ["OciKit.Transfer"] = 5,
        ["OciKit.Build"] = 6,
        ["OciKit.Publish"] = 6,
        ["OciKit.Sbom"] = 6,
        ["OciKit.Signing"] = 6,
    };

    // Namespaces of the same rank that must not use each other either: storage and protocol are siblings.
    private static readonly (string From, string To)[] Forbidden =
    [
        ("OciKit.Layout", "OciKit.Registry"),
        ("OciKit.Registry", "OciKit.Layout"),
        ("OciKit.Registry", "OciKit.Layers"),
        ("OciKit.Execution", "OciKit.Layout"),
        ("OciKit.Layout", "OciKit.Execution"),
        ("OciKit.Execution", "OciKit.Registry"),
        ("OciKit.Registry", "OciKit.Execution"),
    ];

    [Fact]
    public void Lower_namespaces_never_reference_higher_ones()
    {
        var assembly = typeof(OciException).Assembly;
        using var stream = File.OpenRead(assembly.Location);
        using var pe = new PEReader(stream);
        var md = pe.GetMetadataReader();

        // Namespaces referenced by each type are approximated by the type references its methods' bodies and
        // signatures resolve to within this assembly: check every type definition's member signatures and base types.
        var violations = new List<string>();
        foreach (var type in assembly.GetTypes())
        {
            var from = TopNamespace(type.Namespace);
            if (from is null || !Rank.TryGetValue(from, out var fromRank))
            {
                continue;
            }

            foreach (var used in ReferencedTypes(type))
            {
                var to = TopNamespace(used.Namespace);
                if (used.Assembly == assembly && to is not null && Rank.TryGetValue(to, out var toRank)
                    && (toRank > fromRank || Forbidden.Contains((from, to))))
                {
                    violations.Add($"{type.FullName} ({from}) uses {used.FullName} ({to})");
                }
            }
        }

        Assert.True(md.TypeDefinitions.Count > 0);
        Assert.Empty(violations.Distinct());
    }

    [Fact]
    public void The_check_sees_generic_arguments_and_what_method_bodies_call()
    {
        var seen = ReferencedTypes(typeof(Probe)).ToHashSet();

        Assert.Contains(typeof(Uri), seen);                  // only a generic argument of a field's type
        Assert.Contains(typeof(System.Text.StringBuilder), seen); // only created inside a lambda's body
        Assert.Contains(typeof(Environment), seen);          // only a static call inside an async method's body
        Assert.Contains(typeof(TimeZoneInfo), seen);         // only a static field read inside a body
        Assert.Contains(typeof(Version), seen);              // only a typeof() token
    }

    private static string? TopNamespace(string? ns)
    {
        if (ns is null || !ns.StartsWith("OciKit", StringComparison.Ordinal))
        {
            return null;
        }

        var parts = ns.Split('.');
        return parts.Length == 1 ? "OciKit" : parts[0] + "." + parts[1];
    }

    /// <summary>Everything a type and its nested types (lambdas' closures, async state machines) use.</summary>
    private static IEnumerable<Type> ReferencedTypes(Type type) =>
        type.GetNestedTypes(BindingFlags.Public | BindingFlags.NonPublic).SelectMany(ReferencedTypes)
            .Concat(DirectlyReferencedTypes(type).SelectMany(Flatten));

    private static IEnumerable<Type> DirectlyReferencedTypes(Type type)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        if (type.BaseType is not null)
        {
            yield return type.BaseType;
        }

        foreach (var i in type.GetInterfaces())
        {
            yield return i;
        }

        foreach (var f in type.GetFields(all))
        {
            yield return f.FieldType;
        }

        foreach (var p in type.GetProperties(all))
        {
            yield return p.PropertyType;
        }

        var bodies = new List<MethodBase>();
        foreach (var m in type.GetMethods(all))
        {
            yield return m.ReturnType;
            foreach (var p in m.GetParameters())
            {
                yield return p.ParameterType;
            }

            bodies.Add(m);
        }

        foreach (var c in type.GetConstructors(all))
        {
            foreach (var p in c.GetParameters())
            {
                yield return p.ParameterType;
            }

            bodies.Add(c);
        }

        foreach (var method in bodies)
        {
            var body = method.GetMethodBody();
            if (body is null)
            {
                continue;
            }

            foreach (var local in body.LocalVariables)
            {
                yield return local.LocalType;
            }

            foreach (var used in IlReferences(method, body.GetILAsByteArray() ?? []))
            {
                yield return used;
            }
        }
    }

    /// <summary>A type with everything it is made of: element types and generic arguments, at any depth.</summary>
    private static IEnumerable<Type> Flatten(Type type)
    {
        if (type.HasElementType)
        {
            foreach (var inner in Flatten(type.GetElementType()!))
            {
                yield return inner;
            }

            yield break;
        }

        if (type.IsGenericParameter)
        {
            yield break;
        }

        if (type.IsGenericType && !type.IsGenericTypeDefinition)
        {
            yield return type.GetGenericTypeDefinition();
            foreach (var argument in type.GetGenericArguments())
            {
                foreach (var inner in Flatten(argument))
                {
                    yield return inner;
                }
            }

            yield break;
        }

        yield return type;
    }

    /// <summary>
    /// The types a method body names in its instructions: the declaring types (and generic arguments) of the methods
    /// it calls and the fields it touches, and the types it creates, casts to or loads tokens of.
    /// </summary>
    private static IEnumerable<Type> IlReferences(MethodBase method, byte[] il)
    {
        var module = method.Module;
        var typeArguments = method.DeclaringType is { IsGenericType: true } declaring ? declaring.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        var position = 0;
        while (position < il.Length)
        {
            OpCode opCode;
            if (il[position] == 0xFE)
            {
                opCode = TwoByte[il[position + 1]];
                position += 2;
            }
            else
            {
                opCode = OneByte[il[position]];
                position += 1;
            }

            switch (opCode.OperandType)
            {
                case OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineType or OperandType.InlineTok:
                    var token = BitConverter.ToInt32(il, position);
                    position += 4;
                    var member = module.ResolveMember(token, typeArguments, methodArguments);
                    switch (member)
                    {
                        case Type t:
                            yield return t;
                            break;
                        case MethodInfo m:
                            yield return m.DeclaringType!;
                            yield return m.ReturnType;
                            foreach (var argument in m.IsGenericMethod ? m.GetGenericArguments() : [])
                            {
                                yield return argument;
                            }

                            break;
                        case MemberInfo other when other.DeclaringType is { } owner:
                            yield return owner;
                            break;
                    }

                    break;
                case OperandType.InlineSwitch:
                    var count = BitConverter.ToInt32(il, position);
                    position += 4 + (4 * count);
                    break;
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    position += 1;
                    break;
                case OperandType.InlineVar:
                    position += 2;
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    position += 8;
                    break;
                default:
                    // InlineBrTarget, InlineI, InlineSig, InlineString, ShortInlineR: a four-byte operand.
                    position += 4;
                    break;
            }
        }
    }

    private static readonly OpCode[] OneByte = OpCodeTable(singleByte: true);

    private static readonly OpCode[] TwoByte = OpCodeTable(singleByte: false);

    private static OpCode[] OpCodeTable(bool singleByte)
    {
        var table = new OpCode[256];
        foreach (var field in typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            var opCode = (OpCode)field.GetValue(null)!;
            var value = (ushort)opCode.Value;
            if (singleByte && opCode.Size == 1)
            {
                table[value] = opCode;
            }
            else if (!singleByte && opCode.Size == 2)
            {
                table[value & 0xFF] = opCode;
            }
        }

        return table;
    }

    private sealed class Probe
    {
        private readonly Dictionary<string, List<Uri>> _field = [];

        public int Count => _field.Count;

        public static Func<string> Lambda() => () => new System.Text.StringBuilder("x").ToString();

        public static async Task<int> BodyAsync()
        {
            await Task.Yield();
            return Environment.ProcessorCount + TimeZoneInfo.Utc.BaseUtcOffset.Hours + typeof(Version).Name.Length;
        }
    }
}
