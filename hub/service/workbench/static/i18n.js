// Every string the page shows, in Chinese (the bureau's language, the default) and English.

const STRINGS = {
  zh: {
    title: "社会工作人才数据工作台",
    language: "English",
    signIn: "登录",
    signOut: "退出",
    tokenLabel: "访问令牌（粘贴）",
    tokenHint: "令牌只保存在本次浏览器会话中。",
    signInFailed: "无法登录：",
    you: "当前用户",
    role: "角色",
    jurisdiction: "管辖",
    navSearch: "查询记录",
    navDashboard: "进度仪表盘",
    navAudit: "审计日志",
    navAccess: "个人信息访问记录",
    searchLabel: "名称、社工姓名或身份证号、统一社会信用代码、社区代码或记录编号",
    search: "查询",
    searching: "查询中…",
    noResults: "没有找到记录。",
    searchedFirst: "仅在前 {0} 条（共 {1} 条）机构中按名称和信用代码查找。",
    workersSearchedWithin: "社工仅在您可查看其个人信息的范围内按姓名或身份证号查找。",
    loading: "加载中…",
    error: "出错了：",
    notAvailable: "暂不可用（本系统的接口尚未提供此项）。",
    forbidden: "您的角色无权查看此项。",
    none: "—",
    yes: "是",
    no: "否",
    hidden: "（不可见）",
    record: "记录",
    state: "当前状态",
    stateAsOf: "状态（按所选时点）",
    notThen: "该时点此记录尚不存在。",
    timeline: "时间线",
    effectivePicker: "生效日期",
    recordedPicker: "记录时间",
    now: "现在",
    position: "序号",
    eventType: "事件",
    recordedAt: "记录时间",
    effectiveOn: "生效日期",
    actor: "操作人",
    party: "责任方",
    reason: "原因",
    requestId: "请求编号",
    changes: "变更",
    field: "字段",
    before: "变更前",
    after: "变更后",
    retracts: "更正/撤销了",
    retractedBy: "已被撤销，见",
    erasure: "删除个人信息",
    erased: "个人信息已删除",
    redacted: "个人信息不可见",
    asRecordedThen: "看该事件记录后的状态",
    dashboard: "进度仪表盘",
    city: "全市",
    district: "区县",
    asOfDate: "截至日期",
    show: "显示",
    indicators: "指标",
    value: "数值",
    target: "目标",
    due: "期限",
    source: "依据",
    every: "间隔",
    charts: "历年变化与目标",
    chartTable: "{0}：数据表",
    onDate: "日期",
    districtsTable: "各区县（点击列标题排序）",
    sortBy: "按“{0}”排序",
    breakdowns: "分项",
    audit: "审计日志",
    access: "个人信息访问记录",
    accessOfWorker: "谁查看了此人的个人信息",
    at: "时间",
    worker: "社会工作者",
    fields: "字段",
    from: "自",
    to: "至",
    entityTypes: "记录类型",
    entityId: "记录编号",
    recordedFrom: "记录时间自",
    recordedTo: "记录时间至",
    effectiveFrom: "生效日期自",
    effectiveTo: "生效日期至",
    any: "（不限）",
    total: "共 {0} 条",
    next: "下一页",
    previous: "上一页",
    exportCsv: "导出 CSV",
    exporting: "导出中…（{0} 条）",
    exported: "已导出 {0} 条。",
    refresh: "刷新",
    data: "数据",
    entityType: "类型",
    page: "第 {0} 页",
    workers: "社会工作者",
    certifiedWorkers: "持证社会工作者",
    agencies: "社会工作服务机构",
    demonstrationAgencies: "示范机构",
    stations: "社工站",
    demonstrationStations: "示范社工站（社区）",
    stationsFullyStaffed: "配齐2名专职社工的社工站",
    posts: "社会工作岗位",
    filledPosts: "已聘岗位",
    trainingPersonTimes: "培训人次",
    projects: "服务项目",
    urbanCommunities: "城市社区",
    urbanCommunitiesOnTarget: "有2名以上社工的城市社区",
    ruralCommunities: "农村社区",
    ruralCommunitiesOnTarget: "有1名以上社工的农村社区",
    fundsDisbursed: "已拨付资金（元）",
    certificatesByLevel: "各级证书",
    postsBySector: "各领域岗位",
    projectsByField: "各领域项目",
    trainingByCategory: "各类培训人次",
  },
  en: {
    title: "Social-work workforce workbench",
    language: "中文",
    signIn: "Sign in",
    signOut: "Sign out",
    tokenLabel: "Access token (paste it)",
    tokenHint: "The token is kept for this browser session only.",
    signInFailed: "Could not sign in: ",
    you: "Signed in as",
    role: "Role",
    jurisdiction: "Jurisdiction",
    navSearch: "Find a record",
    navDashboard: "Progress dashboard",
    navAudit: "Audit trail",
    navAccess: "Personal data access",
    searchLabel: "Name, a worker's name or ID number, credit code, community code or record id",
    search: "Search",
    searching: "Searching…",
    noResults: "No record found.",
    searchedFirst: "Names and credit codes searched among the first {0} of {1} agencies.",
    workersSearchedWithin: "Workers are found by name or ID number only where you may see them.",
    loading: "Loading…",
    error: "Error: ",
    notAvailable: "Not available (this hub's API does not offer it yet).",
    forbidden: "Your role may not see this.",
    none: "—",
    yes: "Yes",
    no: "No",
    hidden: "(not visible)",
    record: "Record",
    state: "State now",
    stateAsOf: "State (at the chosen moment)",
    notThen: "The record did not exist at that moment.",
    timeline: "Timeline",
    effectivePicker: "Effective date",
    recordedPicker: "Recorded time",
    now: "Now",
    position: "Position",
    eventType: "Event",
    recordedAt: "Recorded",
    effectiveOn: "Effective",
    actor: "Actor",
    party: "Party",
    reason: "Reason",
    requestId: "Request id",
    changes: "Changes",
    field: "Field",
    before: "Before",
    after: "After",
    retracts: "Corrects or retracts",
    retractedBy: "Retracted, see",
    erasure: "Erasure of personal data",
    erased: "Personal data erased",
    redacted: "Personal data not visible",
    asRecordedThen: "State as recorded just after this",
    dashboard: "Progress dashboard",
    city: "The city",
    district: "District",
    asOfDate: "As of",
    show: "Show",
    indicators: "Indicators",
    value: "Value",
    target: "Target",
    due: "Due",
    source: "Source",
    every: "Every",
    charts: "Over time, against the targets",
    chartTable: "{0}: data table",
    onDate: "Date",
    districtsTable: "The districts (click a column heading to sort)",
    sortBy: "Sort by “{0}”",
    breakdowns: "Breakdowns",
    audit: "Audit trail",
    access: "Personal data access",
    accessOfWorker: "Who looked at this person's personal data",
    at: "At",
    worker: "Worker",
    fields: "Fields",
    from: "From",
    to: "To",
    entityTypes: "Record types",
    entityId: "Record id",
    recordedFrom: "Recorded from",
    recordedTo: "Recorded to",
    effectiveFrom: "Effective from",
    effectiveTo: "Effective to",
    any: "(any)",
    total: "{0} in all",
    next: "Next page",
    previous: "Previous page",
    exportCsv: "Export CSV",
    exporting: "Exporting… ({0} rows)",
    exported: "Exported {0} rows.",
    refresh: "Refresh",
    data: "Data",
    entityType: "Type",
    page: "Page {0}",
    workers: "Social workers",
    certifiedWorkers: "Certificate holders",
    agencies: "Agencies",
    demonstrationAgencies: "Demonstration agencies",
    stations: "Stations",
    demonstrationStations: "Demonstration stations (communities)",
    stationsFullyStaffed: "Stations with 2+ full-time staff",
    posts: "Posts",
    filledPosts: "Filled posts",
    trainingPersonTimes: "Training person-times",
    projects: "Projects",
    urbanCommunities: "Urban communities",
    urbanCommunitiesOnTarget: "Urban communities with 2+ workers",
    ruralCommunities: "Rural communities",
    ruralCommunitiesOnTarget: "Rural communities with 1+ worker",
    fundsDisbursed: "Funds disbursed (yuan)",
    certificatesByLevel: "Certificates by level",
    postsBySector: "Posts by sector",
    projectsByField: "Projects by field",
    trainingByCategory: "Training by category",
  },
};

const KEY = "hub.workbench.language";

export function language() {
  return localStorage.getItem(KEY) === "en" ? "en" : "zh";
}

export function setLanguage(value) {
  localStorage.setItem(KEY, value);
  document.documentElement.lang = value === "en" ? "en" : "zh-CN";
}

/** The string `key` in the chosen language, `{0}`... replaced by `args`. */
export function t(key, ...args) {
  const table = STRINGS[language()];
  const text = key in table ? table[key] : key;
  return text.replace(/\{(\d+)\}/g, (_, n) => String(args[Number(n)]));
}

let vocabulary = { enums: {}, events: {}, fields: {}, enumFields: {}, rowKeys: {} };

/** Loads the names of the registry's values (vocabulary.json), once, before the first page. */
export async function loadVocabulary() {
  try {
    const answer = await fetch("vocabulary.json");
    if (answer.ok) vocabulary = await answer.json();
  } catch {
    // The raw values, then, as the API spells them.
  }
}

/** `names[key]` in the chosen language; the key itself for a value this page does not know
 * (a newer hub's). */
function named(names, key) {
  return names?.[key]?.[language()] || String(key);
}

/** A value of the enum `name` of the API (`AgencyKind`, `COMPREHENSIVE`) in the chosen language. */
export function valueName(name, value) {
  if (value === null || value === undefined) return t("none");
  return named(vocabulary.enums[name], value);
}

/** A role's name; also an accountable party's (三方), which is one of the roles. */
export function roleName(role) {
  return valueName("Role", role);
}

/** An actor's jurisdiction: the whole city by its name, a district by its code. */
export function jurisdictionName(jurisdiction) {
  return jurisdiction === "CITY" ? t("city") : jurisdiction;
}

/** A kind of record's name (`AGENCY`). */
export function entityName(type) {
  return valueName("EntityType", type);
}

/** An event type's name (`AgencyRegistered`). */
export function eventName(type) {
  return named(vocabulary.events, type);
}

/** The fields that name a related row of a record of `type` in its list `list`, after the
 * record's id (`WORKER`, `certificates` → `level`, `number`): how a change names the row. */
export function rowKeyOf(type, list) {
  return vocabulary.rowKeys[type]?.[list] || [];
}

/** Every event type this page names, in the event reference's order. */
export function eventTypes() {
  return Object.keys(vocabulary.events);
}

/** A field's name by its path in a record of `type` (`incubation.from`, `staff.fullTime`):
 * the type's own (`WORKER.name`), else the whole path's, else its last part's. */
export function fieldName(path, type = null) {
  const known = [`${type}.${path}`, path, path.split(".").pop()];
  return named(vocabulary.fields, known.find((key) => key in vocabulary.fields) || path);
}

/** The enum a field of a kind of record holds (`AGENCY`, `kind` → `AgencyKind`), if any. */
export function enumOf(type, path) {
  return vocabulary.enumFields[type]?.[path] || null;
}

/** Numbers as the chosen language writes them (12,291). */
export function number(value) {
  if (value === null || value === undefined) return t("none");
  const parsed = Number(value);
  return Number.isFinite(parsed)
    ? parsed.toLocaleString(language() === "en" ? "en-US" : "zh-CN")
    : String(value);
}
