// `strongroom governance show|set`: the dual-control, quorum, approval-window and PCI-mode settings (/v1/sys/governance).
import { type CommandSpec, optInt, optStr } from "../command.js";
import { CliError } from "../http-client.js";
import { kv, print, printJson } from "../output.js";

interface Governance {
  dualControl: boolean;
  approvalWindowMinutes: number;
  quorum: number;
  pciMode: boolean;
}

const onOff = (b: boolean): string => (b ? "on" : "off");

function text(g: Governance): string {
  return kv({
    "dual control": onOff(g.dualControl),
    quorum: `${g.quorum} distinct people (the requester and ${g.quorum - 1} other admin${g.quorum === 2 ? "" : "s"})`,
    "approval window": `${g.approvalWindowMinutes} minutes (how long a pending request waits for approval)`,
    "PCI mode": `${onOff(g.pciMode)}${g.pciMode ? " (no clear-text key material leaves or enters)" : ""}`,
  });
}

/** `on`/`off` (also true/false, yes/no) for a boolean setting. */
function optSwitch(v: Record<string, string | boolean | undefined>, name: string): boolean | undefined {
  const x = optStr(v, name);
  if (x === undefined) return undefined;
  const s = x.toLowerCase();
  if (["on", "true", "yes"].includes(s)) return true;
  if (["off", "false", "no"].includes(s)) return false;
  throw new CliError(`--${name} must be on or off`);
}

const show: CommandSpec = {
  path: ["governance", "show"],
  summary: "Show the governance settings in force: dual control, quorum, approval window, PCI mode.",
  options: {},
  client: true,
  async run(inv) {
    const g = await inv.api().call<Governance>("GET", "/v1/sys/governance");
    if (inv.json) printJson(g);
    else print(text(g));
    return 0;
  },
};

const set: CommandSpec = {
  path: ["governance", "set"],
  summary: "Change governance settings (admin); while dual control is on, a second admin must approve the change.",
  details:
    "Only the settings given change. While dual control is on (including turning it off) the change waits for\n" +
    "approval: the command prints the approval id, exits with status 3 (code approval_required), and a second\n" +
    "admin runs `strongroom approvals list` and `strongroom approvals approve ID --digest D`. The stored\n" +
    "settings win over governance.* in strongroom.yaml once the server has run.",
  options: {
    "dual-control": { type: "string", arg: "on|off", help: "protected operations need a second admin" },
    quorum: { type: "string", arg: "N", help: "distinct people for a protected operation, requester included (2-16)" },
    "approval-window-minutes": { type: "string", arg: "N", help: "how long a pending request waits for approval (1-10080)" },
    "pci-mode": { type: "string", arg: "on|off", help: "refuse clear-text key export and import" },
  },
  client: true,
  async run(inv) {
    const v = inv.values;
    const body = {
      dualControl: optSwitch(v, "dual-control"),
      quorum: optInt(v, "quorum", 2, 16),
      approvalWindowMinutes: optInt(v, "approval-window-minutes", 1, 10080),
      pciMode: optSwitch(v, "pci-mode"),
    };
    if (Object.values(body).every((x) => x === undefined))
      throw new CliError("give at least one of --dual-control, --quorum, --approval-window-minutes, --pci-mode");
    const g = await inv.api().call<Governance>("PATCH", "/v1/sys/governance", { body });
    if (inv.json) printJson(g);
    else print(text(g));
    return 0;
  },
};

export const governanceCommands: CommandSpec[] = [show, set];
