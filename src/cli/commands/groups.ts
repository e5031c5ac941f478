import { Option, type Command } from "commander";
import { groupMemberUsers, listGroups } from "../../domain/groups.repo.js";
import { addGroup, addGroupMember, notifyOf, removeGroupMember, setGroupNotify, type GroupNotify } from "../../domain/groups.service.js";
import { withContext } from "../context.js";
import { printJson, printLine, printTable } from "../output.js";

export function registerGroupCommands(program: Command): void {
  const groups = program.command("groups").description("groups and their inbox addresses");

  groups
    .command("add")
    .description("add a group with an inbox address: mail to it starts a conversation with the group")
    .argument("<name>")
    .requiredOption("--inbox <address>", "the group's inbox address, e.g. support@example.test")
    .action((name: string, options: { inbox: string }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        const group = await write((ctx) => addGroup(ctx, { name, inbox: options.inbox }));
        printLine(`added group ${group.name} with inbox ${group.inboxAddress}`);
      }),
    );

  groups
    .command("list")
    .description("list groups")
    .option("--json", "print JSON")
    .action((options: { json?: boolean }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ read }) => {
        const rows = await read(async ({ tx }) => {
          const groups = await listGroups(tx);
          return Promise.all(
            groups.map(async (g) => ({
              name: g.name,
              inbox: g.inboxAddress,
              members: (await groupMemberUsers(tx, g.id)).map((u) => u.email),
              notify: notifyOf(g),
            })),
          );
        });
        if (options.json) printJson(rows);
        else printTable(rows, ["name", "inbox", "notify", "members"]);
      }),
    );

  groups
    .command("set")
    .description("change a group's settings")
    .argument("<name>")
    .addOption(
      new Option("--notify <who>", "who receives an assigned conversation's posts: every member, or its assignee only")
        .choices(["all", "assignee"])
        .makeOptionMandatory(),
    )
    .action((name: string, options: { notify: GroupNotify }, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        const group = await write(({ tx }) => setGroupNotify(tx, name, options.notify));
        printLine(
          notifyOf(group) === "assignee"
            ? `${group.name}: once a conversation is assigned, only its assignee keeps receiving copies`
            : `${group.name}: every member receives every post, assigned or not`,
        );
      }),
    );

  const members = groups.command("members").description("group membership");
  members
    .command("add")
    .description("add an active member to a group")
    .argument("<name>")
    .argument("<email>")
    .action((name: string, email: string, _options, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        const { group, user } = await write((ctx) => addGroupMember(ctx, name, email));
        printLine(`${user.email} is a member of ${group.name}`);
      }),
    );
  members
    .command("remove")
    .description("remove a member from a group")
    .argument("<name>")
    .argument("<email>")
    .action((name: string, email: string, _options, command: Command) =>
      withContext(command.optsWithGlobals(), async ({ write }) => {
        await write(({ tx }) => removeGroupMember(tx, name, email));
        printLine(`${email} removed from ${name}`);
      }),
    );
}
