import { runService } from '@metering/service-kit';
import { dashboardService } from './service';

void runService(dashboardService);
