// The yingji extension: the TextMate grammar and language configuration
// come from package.json; this starts `yingji lsp` and connects VS Code's
// language client to it (diagnostics, hover, definitions, completion,
// document symbols, formatting).
import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
} from "vscode-languageclient/node";

let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const config = vscode.workspace.getConfiguration("yingji");
  const command = config.get<string>("server.path") || "yingji";
  const serverOptions: ServerOptions = {
    run: { command, args: ["lsp"] },
    debug: { command, args: ["lsp"] },
  };
  const documentSelector: LanguageClientOptions["documentSelector"] = [
    { scheme: "file", language: "yingji" },
  ];
  if (config.get<boolean>("yamlDefinitions", true)) {
    documentSelector.push({
      scheme: "file",
      language: "yaml",
      pattern: "**/{plans,policies}/**/*.{yaml,yml}",
    });
  }
  client = new LanguageClient("yingji", "yingji (应急)", serverOptions, {
    documentSelector,
  });
  context.subscriptions.push({
    dispose: () => {
      void client?.stop();
    },
  });
  try {
    await client.start();
  } catch (e) {
    void vscode.window.showErrorMessage(
      `yingji: could not start \`${command} lsp\` (set yingji.server.path): ${String(e)}`,
    );
  }
}

export function deactivate(): Thenable<void> | undefined {
  return client?.stop();
}
