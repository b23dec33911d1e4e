import { runService } from '@metering/service-kit';
import { ingestionService } from './service';

void runService(ingestionService);
